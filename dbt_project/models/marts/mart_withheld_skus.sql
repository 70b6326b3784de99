-- Listings (SKU x marketplace with orders or list prices) whose SKU has no accepted catalog row:
-- their demand is in fct_daily_demand, but what needs the catalog's cost, weight or HS code is
-- withheld (not computed), here with the reason and the catalog file and row to fix.
with skus as (
    select * from {{ ref('int_skus_resolved') }}
    where not is_in_catalog
),

listings as (
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

catalog_given as (
    select count(*) > 0 as is_given from {{ ref('stg_raw__catalog') }}
),

sold as (
    select
        demand.sku,
        demand.marketplace,
        cast(sum(units) as bigint) as units,
        -- unknown when a day's sales have no USD rate (no FX for the currency)
        case when count(*) filter (where units > 0 and revenue_usd is null) = 0
                then sum(revenue_usd)
        end as revenue_usd,
        min(demand.demand_date) filter (where units > 0) as first_order_date,
        max(demand.demand_date) filter (where units > 0) as last_order_date
    from {{ ref('fct_daily_demand') }} as demand
    where demand.sku in (select skus.sku from skus)
    group by demand.sku, demand.marketplace
),

final as (
    select
        -- ids
        listings.sku,
        listings.marketplace,
        -- why
        skus.catalog_status,
        -- the marts that need the SKU's cost, weight and HS code (pricing will join them)
        'mart_landed_cost, mart_tariff_exposure' as withheld,
        case
            when skus.catalog_status = 'quarantined'
                then 'catalog row quarantined: ' || skus.catalog_issue
            when catalog_given.is_given
                then 'not in the catalog: add a row for this SKU to raw/catalog/'
            else 'no catalog given (raw/catalog/ is empty): no cost, weight or HS code'
        end as withheld_reason,
        skus.catalog_file,
        skus.catalog_row,
        skus.catalog_failed_rules as failed_rules,
        -- the demand that is kept (fct_daily_demand)
        coalesce(sold.units, 0) as units,
        sold.revenue_usd,
        sold.first_order_date,
        sold.last_order_date
    from listings
    inner join skus on listings.sku = skus.sku
    cross join catalog_given
    left join sold on listings.sku = sold.sku and listings.marketplace = sold.marketplace
)

select * from final
