-- One row per SKU x marketplace series with the days its dense demand grid spans: from its first
-- activity (first order, or the listing start: launch date / first list price) to the as-of date,
-- ended at the discontinued date. Never before the first order of the whole history: before it
-- a zero is missing data, not zero demand.
with orders as (
    select
        sku,
        marketplace,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('int_orders_aggregated') }}
    group by sku, marketplace
),

prices as (
    select
        sku,
        marketplace,
        min(valid_from) as first_price_date
    from {{ ref('stg_raw__prices') }}
    group by sku, marketplace
),

pairs as (
    select
        coalesce(orders.sku, prices.sku) as sku,
        coalesce(orders.marketplace, prices.marketplace) as marketplace,
        orders.first_order_date,
        orders.last_order_date,
        prices.first_price_date
    from orders
    full outer join prices
        on orders.sku = prices.sku and orders.marketplace = prices.marketplace
),

bounds as (
    select
        {{ history_start_date() }} as history_start,
        {{ as_of_date() }} as as_of
),

bounded as (
    select
        pairs.sku,
        pairs.marketplace,
        marketplaces.currency,
        pairs.first_order_date,
        pairs.last_order_date,
        skus.launch_date,
        skus.discontinued_date,
        greatest(
            bounds.history_start,
            -- greatest/least skip NULLs: a missing launch date or price list does not end it
            least(pairs.first_order_date, greatest(skus.launch_date, pairs.first_price_date))
        ) as start_date,
        least(
            bounds.as_of,
            -- orders after the discontinued date still count (sell-off of the last stock)
            greatest(coalesce(skus.discontinued_date, bounds.as_of), pairs.last_order_date)
        ) as end_date
    from pairs
    cross join bounds
    left join {{ ref('int_skus_resolved') }} as skus on pairs.sku = skus.sku
    left join {{ ref('int_marketplaces_resolved') }} as marketplaces
        on pairs.marketplace = marketplaces.marketplace
),

final as (
    select *
    from bounded
    where start_date <= end_date
)

select * from final
