-- Every SKU the seller has: the catalog, plus SKUs seen only in orders (flagged, no attributes).
with skus as (
    select * from {{ ref('int_skus_resolved') }}
),

final as (
    select
        -- ids
        sku,
        -- dimensions
        title,
        category,
        hs_code,
        origin_country,
        is_in_catalog,
        not is_in_catalog as is_order_only,
        -- numerics
        unit_cost,
        cost_currency,
        weight_kg,
        marketplaces_sold_in,
        -- dates
        launch_date,
        discontinued_date,
        first_order_date,
        last_order_date
    from skus
)

select * from final
