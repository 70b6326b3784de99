-- The price-and-promotion plan: the list price in force and the deepest promotion discount per
-- SKU x marketplace x day, over the var price_plan_horizon_days days after the demand history's
-- last day (the last demand_date of fct_daily_demand). This is where pricing and forecasting
-- meet: the forecast reads its known-ahead prices and discounts here, and the prices pricing
-- published last run (source pricing.planned_prices) are planned over the seller's price list.
--
-- A row is a day with a planned price, a promotion or both: a price-list row covers a day from
-- valid_from through valid_to (open-ended when NULL), the latest valid_from wins where rows
-- overlap; a published price replaces the price list's for its day (price_source says which);
-- overlapping promotions keep the deepest discount. Before the first pricing run the source table
-- is empty (the on-run-start hook creates it): the plan is the price list alone.
with history as (
    select max(demand_date) as history_end
    from {{ ref('fct_daily_demand') }}
),

days as (
    select
        cast(unnest(generate_series(
            history_end + 1,
            history_end + {{ var('price_plan_horizon_days') }},
            interval 1 day
        )) as date) as demand_date
    from history
    where history_end is not null
),

prices as (
    select
        sku,
        marketplace,
        valid_from,
        valid_to,
        list_price
    from {{ ref('stg_raw__prices') }}
),

promotions as (
    select
        sku,
        marketplace,
        promo_date,
        discount_pct
    from {{ ref('int_promotions_expanded') }}
),

priced as (
    select
        prices.sku,
        prices.marketplace,
        days.demand_date,
        arg_max(prices.list_price, prices.valid_from) as list_price_local
    from prices
    inner join days
        on prices.valid_from <= days.demand_date
            and days.demand_date <= coalesce(prices.valid_to, date '9999-12-31')
    group by prices.sku, prices.marketplace, days.demand_date
),

published as (
    select
        planned_prices.sku,
        planned_prices.marketplace,
        planned_prices.plan_date as demand_date,
        planned_prices.list_price_local
    from {{ source('pricing', 'planned_prices') }} as planned_prices
    inner join days on planned_prices.plan_date = days.demand_date
),

planned as (
    select
        coalesce(published.sku, priced.sku) as sku,
        coalesce(published.marketplace, priced.marketplace) as marketplace,
        coalesce(published.demand_date, priced.demand_date) as demand_date,
        coalesce(published.list_price_local, priced.list_price_local) as list_price_local,
        case
            when published.sku is not null then 'published'
            when priced.list_price_local is not null then 'price_list'
        end as price_source
    from priced
    full outer join published
        on priced.sku = published.sku
            and priced.marketplace = published.marketplace
            and priced.demand_date = published.demand_date
),

promoted as (
    select
        promotions.sku,
        promotions.marketplace,
        days.demand_date,
        promotions.discount_pct
    from promotions
    inner join days on promotions.promo_date = days.demand_date
),

final as (
    select
        coalesce(planned.sku, promoted.sku) as sku,
        coalesce(planned.marketplace, promoted.marketplace) as marketplace,
        coalesce(planned.demand_date, promoted.demand_date) as demand_date,
        planned.list_price_local,
        planned.price_source,
        promoted.discount_pct
    from planned
    full outer join promoted
        on planned.sku = promoted.sku
            and planned.marketplace = promoted.marketplace
            and planned.demand_date = promoted.demand_date
)

select * from final
