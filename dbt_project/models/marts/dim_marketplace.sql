-- Every marketplace the seller sells in, with its tax, fee and customs figures and its market
-- warehouse. Marketplaces known only from orders carry the reference defaults for their code
-- (is_reference_default); unknown codes have empty figures.
with marketplaces as (
    select * from {{ ref('int_marketplaces_resolved') }}
),

market_warehouses as (
    select
        marketplace,
        min(warehouse_id) as market_warehouse_id,
        count(*) as market_warehouses
    from {{ ref('stg_raw__warehouses') }}
    where warehouse_type = 'market'
    group by marketplace
),

final as (
    select
        -- ids
        marketplaces.marketplace,
        market_warehouses.market_warehouse_id,
        -- dimensions
        marketplaces.marketplace_name,
        marketplaces.country,
        marketplaces.region,
        marketplaces.currency,
        marketplaces.customs_union,
        marketplaces.customs_basis,
        marketplaces.prices_include_vat,
        marketplaces.is_reference_default,
        marketplaces.is_unknown_code,
        marketplaces.has_orders,
        -- numerics
        marketplaces.vat_rate,
        marketplaces.referral_fee_rate,
        marketplaces.fulfilment_fee_per_unit,
        marketplaces.fulfilment_fee_per_kg,
        coalesce(market_warehouses.market_warehouses, 0) as market_warehouses,
        -- dates
        marketplaces.first_order_date,
        marketplaces.last_order_date
    from marketplaces
    left join market_warehouses on marketplaces.marketplace = market_warehouses.marketplace
)

select * from final
