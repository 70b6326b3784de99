-- Every SKU: the catalog when given, plus SKUs whose catalog row was quarantined and SKUs seen
-- only in orders (both without cost, weight or HS code). catalog_status says which.
with catalog as (
    select * from {{ ref('stg_raw__catalog') }}
),

quarantined as (
    select * from {{ ref('int_catalog_quarantined_skus') }}
),

order_skus as (
    select
        sku,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(distinct marketplace) as marketplaces_sold_in
    from {{ ref('stg_raw__orders') }}
    group by sku
),

from_catalog as (
    select
        sku,
        title,
        category,
        hs_code,
        origin_country,
        unit_cost,
        cost_currency,
        weight_kg,
        launch_date,
        discontinued_date,
        true as is_in_catalog
    from catalog
),

-- not in the catalog: quarantined catalog rows (sold or not) and SKUs seen only in orders
outside_catalog as (
    select sku from order_skus
    union
    select sku from quarantined
),

from_orders_only as (
    select
        outside_catalog.sku,
        null::varchar as title,
        null::varchar as category,
        null::varchar as hs_code,
        null::varchar as origin_country,
        null::double as unit_cost,
        null::varchar as cost_currency,
        null::double as weight_kg,
        null::date as launch_date,
        null::date as discontinued_date,
        false as is_in_catalog
    from outside_catalog
    where outside_catalog.sku not in (
            select catalog.sku from catalog
            where catalog.sku is not null
        )
),

combined as (
    select * from from_catalog
    union all
    select * from from_orders_only
),

final as (
    select
        combined.*,
        case
            when combined.is_in_catalog then 'in_catalog'
            when quarantined.sku is not null then 'quarantined'
            else 'not_in_catalog'
        end as catalog_status,
        quarantined.catalog_issue,
        quarantined.catalog_file,
        quarantined.catalog_row,
        quarantined.failed_rules as catalog_failed_rules,
        order_skus.first_order_date,
        order_skus.last_order_date,
        coalesce(order_skus.marketplaces_sold_in, 0) as marketplaces_sold_in
    from combined
    left join order_skus on combined.sku = order_skus.sku
    left join quarantined on combined.sku = quarantined.sku and not combined.is_in_catalog
)

select * from final
