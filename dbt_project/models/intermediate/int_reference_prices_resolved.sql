-- The selling price the referral fee is charged on, per listing and landed-cost date: the list
-- price in force that day, else the average selling price of the preceding
-- var reference_price_window_days days of sales (cumulative sums make this two as-of lookups).
with dates as (
    select
        sku,
        marketplace,
        effective_date,
        effective_date - 1 as window_end,
        effective_date - 1 - {{ var('reference_price_window_days') }} as before_window
    from {{ ref('int_landed_cost_dates_enumerated') }}
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

sales as (
    select
        sku,
        marketplace,
        order_date,
        sum(units) over running as cumulative_units,
        sum(revenue_local) over running as cumulative_revenue
    from {{ ref('int_orders_aggregated') }}
    window running as (partition by sku, marketplace order by order_date)
),

looked_up as (
    select
        dates.sku,
        dates.marketplace,
        dates.effective_date,
        case
            when dates.effective_date <= coalesce(prices.valid_to, dates.effective_date)
                then prices.list_price
        end as list_price_local,
        through_window.cumulative_units - coalesce(before_window.cumulative_units, 0)
            as window_units,
        through_window.cumulative_revenue - coalesce(before_window.cumulative_revenue, 0)
            as window_revenue
    from dates
    asof left join prices
        on dates.sku = prices.sku
            and dates.marketplace = prices.marketplace
            and dates.effective_date >= prices.valid_from
    asof left join sales as through_window
        on dates.sku = through_window.sku
            and dates.marketplace = through_window.marketplace
            and dates.window_end >= through_window.order_date
    asof left join sales as before_window
        on dates.sku = before_window.sku
            and dates.marketplace = before_window.marketplace
            and dates.before_window >= before_window.order_date
),

final as (
    select
        sku,
        marketplace,
        effective_date,
        list_price_local,
        case when window_units > 0 then window_revenue / window_units end
            as avg_selling_price_local,
        coalesce(
            list_price_local,
            case when window_units > 0 then window_revenue / window_units end
        ) as reference_price_local,
        case
            when list_price_local is not null then 'list_price'
            when window_units > 0 then 'avg_selling_price'
        end as reference_price_source
    from looked_up
)

select * from final
