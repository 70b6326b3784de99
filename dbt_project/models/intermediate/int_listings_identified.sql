-- SKU x marketplace pairs the seller lists (has orders or list prices for), for catalog SKUs
-- with a cost: the only pairs landed cost is worth computing for.
with listed as (
    select distinct
        sku,
        marketplace
    from {{ ref('int_orders_aggregated') }}
    union
    select distinct
        sku,
        marketplace
    from {{ ref('stg_raw__prices') }}
),

skus as (
    select * from {{ ref('int_skus_resolved') }}
    where is_in_catalog
),

marketplaces as (
    select * from {{ ref('int_marketplaces_resolved') }}
),

final as (
    select
        listed.sku,
        listed.marketplace,
        skus.hs_code,
        skus.origin_country,
        marketplaces.country as destination_country,
        marketplaces.customs_union as destination_union
    from listed
    inner join skus on listed.sku = skus.sku
    inner join marketplaces on listed.marketplace = marketplaces.marketplace
)

select * from final
