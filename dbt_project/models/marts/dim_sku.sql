-- Every SKU the seller has: the catalog, plus SKUs whose catalog row was quarantined and SKUs seen
-- only in orders (flagged by catalog_status, no attributes; catalog_issue says what to fix).
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
        catalog_status = 'not_in_catalog' as is_order_only,
        catalog_status,
        catalog_issue,
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
