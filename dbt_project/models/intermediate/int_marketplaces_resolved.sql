-- Every marketplace the seller sells in: the marketplaces entity when given, plus any marketplace
-- code seen only in orders, filled from the reference figures for well-known codes (flagged).
with given as (
    select * from {{ ref('stg_raw__marketplaces') }}
),

reference as (
    select * from {{ ref('marketplace_reference') }}
),

unions as (
    select * from {{ ref('customs_unions') }}
),

order_marketplaces as (
    select
        marketplace,
        -- the currency most of its orders are in (ingest already checks it against the entity)
        mode(currency) as order_currency,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('stg_raw__orders') }}
    group by marketplace
),

from_entity as (
    select
        marketplace,
        marketplace_name,
        country,
        region,
        currency,
        vat_rate,
        referral_fee_rate,
        prices_include_vat,
        customs_basis,
        fulfilment_fee_per_unit,
        fulfilment_fee_per_kg,
        customs_union,
        false as is_reference_default
    from given
),

from_orders_only as (
    select
        order_marketplaces.marketplace,
        reference.marketplace_name,
        reference.country,
        reference.region,
        coalesce(reference.currency, order_marketplaces.order_currency) as currency,
        reference.vat_rate,
        reference.referral_fee_rate,
        reference.prices_include_vat,
        reference.customs_basis,
        reference.fulfilment_fee_per_unit,
        reference.fulfilment_fee_per_kg,
        reference.customs_union,
        true as is_reference_default
    from order_marketplaces
    left join reference on order_marketplaces.marketplace = reference.marketplace
    where order_marketplaces.marketplace not in (select given.marketplace from given)
),

combined as (
    select * from from_entity
    union all
    select * from from_orders_only
),

final as (
    select
        combined.marketplace,
        combined.marketplace_name,
        combined.country,
        combined.region,
        combined.currency,
        -- a member state named without its union still imports under the union's tariff
        coalesce(combined.customs_union, unions.customs_union) as customs_union,
        combined.vat_rate,
        combined.referral_fee_rate,
        combined.prices_include_vat,
        combined.customs_basis,
        combined.fulfilment_fee_per_unit,
        combined.fulfilment_fee_per_kg,
        combined.is_reference_default,
        combined.is_reference_default and combined.country is null as is_unknown_code,
        order_marketplaces.marketplace is not null as has_orders,
        order_marketplaces.first_order_date,
        order_marketplaces.last_order_date
    from combined
    left join unions on combined.country = unions.country
    left join order_marketplaces on combined.marketplace = order_marketplaces.marketplace
)

select * from final
