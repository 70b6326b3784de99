{{
    config(
        materialized='incremental',
        unique_key=['sku', 'marketplace', 'demand_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

{#-
    Incremental runs re-compute (a) the last `lookback_days` days before the latest built day and
    everything after it, and (b) every day whose raw orders were ingested after the previous build
    (a backfilled partition). Both are turned into literal dates here so DuckDB prunes every scan.
-#}
{%- set window_start = none -%}
{%- set backfill_days = [] -%}
{%- if is_incremental() and execute -%}
    {%- set state = run_query(
        "select cast(max(demand_date) - " ~ var('lookback_days') ~ " as varchar), "
        ~ "cast(max(orders_ingested_through) as varchar) from " ~ this
    ).rows[0] -%}
    {%- if state[0] is not none -%}
        {%- set window_start = state[0] -%}
        {%- if state[1] is not none -%}
            {%- set backfilled = run_query(
                "select distinct cast(order_date as varchar) from " ~ ref('stg_raw__orders')
                ~ " where ingested_at > cast('" ~ state[1] ~ "' as timestamp)"
                ~ " and order_date < cast('" ~ window_start ~ "' as date) order by 1"
            ) -%}
            {%- set backfill_days = backfilled.columns[0].values() | list -%}
        {%- endif -%}
    {%- endif -%}
{%- endif -%}

{#- Predicates on a day column named DAY: the days to build, and the earliest of them (a plain
    range filter DuckDB pushes into every scan). -#}
{%- if window_start is none -%}
    {%- set first_day = none -%}
    {%- set build_days = "true" -%}
    {%- set from_first_day = "true" -%}
{%- else -%}
    {%- set first_day = (backfill_days + [window_start]) | min -%}
    {%- set build_days = "(DAY >= cast('" ~ window_start ~ "' as date)" -%}
    {%- if backfill_days -%}
        {%- set build_days = build_days ~ " or DAY in (cast('"
            ~ backfill_days | join("' as date), cast('") ~ "' as date))" -%}
    {%- endif -%}
    {%- set build_days = build_days ~ ")" -%}
    {%- set from_first_day = "DAY >= cast('" ~ first_day ~ "' as date)" -%}
{%- endif %}

-- Series are numbered so that the 10^7-row grid is joined on integers; SKU and marketplace
-- strings are attached once at the end.
with series as (
    select
        row_number() over (order by sku, marketplace) as series_id,
        sku,
        marketplace,
        currency,
        start_date,
        end_date
    from {{ ref('int_demand_series_bounded') }}
),

grid as (
    select
        series_id,
        cast(unnest(generate_series(
            {%- if first_day is none %}
                start_date,
            {%- else %}
            greatest(start_date, cast('{{ first_day }}' as date)),
            {%- endif %}
            end_date,
            interval 1 day
        )) as date) as demand_date
    from series
),

days as (
    select * from grid
    where {{ build_days | replace('DAY', 'demand_date') }}
),

orders as (
    select
        series.series_id,
        orders.order_date,
        orders.units,
        orders.order_lines,
        orders.revenue_local
    from {{ ref('int_orders_aggregated') }} as orders
    inner join series
        on orders.sku = series.sku and orders.marketplace = series.marketplace
    where {{ from_first_day | replace('DAY', 'orders.order_date') }}
),

marketplaces as (
    select * from {{ ref('int_marketplaces_resolved') }}
),

fx as (
    select * from {{ ref('int_fx_rates_filled') }}
    where {{ from_first_day | replace('DAY', 'rate_date') }}
),

prices as (
    select
        series.series_id,
        prices.valid_from,
        prices.valid_to,
        prices.list_price
    from {{ ref('stg_raw__prices') }} as prices
    inner join series
        on prices.sku = series.sku and prices.marketplace = series.marketplace
),

promotions as (
    select
        series.series_id,
        promotions.promo_date,
        promotions.discount_pct
    from {{ ref('int_promotions_expanded') }} as promotions
    inner join series
        on promotions.sku = series.sku and promotions.marketplace = series.marketplace
    where {{ from_first_day | replace('DAY', 'promotions.promo_date') }}
),

ad_spend as (
    select
        series.series_id,
        ad_spend.spend_date,
        sum(ad_spend.spend) as spend,
        -- spend is summed in local currency only when every row is in the marketplace currency
        bool_and(ad_spend.currency = series.currency) as is_local_currency,
        sum(ad_spend.spend * fx.usd_per_unit) as spend_usd
    from {{ ref('stg_raw__ad_spend') }} as ad_spend
    inner join series
        on ad_spend.sku = series.sku and ad_spend.marketplace = series.marketplace
    left join fx on ad_spend.currency = fx.currency and ad_spend.spend_date = fx.rate_date
    where {{ from_first_day | replace('DAY', 'ad_spend.spend_date') }}
    group by series.series_id, ad_spend.spend_date
),

inventory as (
    select
        series.series_id,
        inventory.snapshot_date,
        inventory.on_hand
    from {{ ref('int_inventory_snapshots_mapped') }} as inventory
    inner join series
        on inventory.sku = series.sku and inventory.marketplace = series.marketplace
),

watermark as (
    select max(ingested_at) as orders_ingested_through
    from {{ ref('stg_raw__orders') }}
),

-- The two as-of lookups first, on the narrow grid: an ASOF join sorts every column it carries.
stocked as (
    select
        days.series_id,
        days.demand_date,
        case
            when days.demand_date <= coalesce(prices.valid_to, days.demand_date)
                then prices.list_price
        end as list_price_local,
        inventory.on_hand as on_hand_start
    from days
    -- the list price in force: the latest price starting on or before the day (no overlaps)
    asof left join prices
        on days.series_id = prices.series_id
            and days.demand_date >= prices.valid_from
    -- stock at the start of the day: the last end-of-day snapshot strictly before it
    asof left join inventory
        on days.series_id = inventory.series_id
            and days.demand_date > inventory.snapshot_date
),

joined as (
    select
        stocked.series_id,
        stocked.demand_date,
        coalesce(orders.units, 0) as units,
        coalesce(orders.order_lines, 0) as order_lines,
        coalesce(orders.revenue_local, 0) as revenue_local,
        stocked.list_price_local,
        promotions.discount_pct,
        ad_spend.spend as ad_spend_raw,
        ad_spend.is_local_currency as ad_spend_is_local,
        ad_spend.spend_usd as ad_spend_usd_raw,
        stocked.on_hand_start
    from stocked
    left join orders
        on stocked.series_id = orders.series_id
            and stocked.demand_date = orders.order_date
    left join promotions
        on stocked.series_id = promotions.series_id
            and stocked.demand_date = promotions.promo_date
    left join ad_spend
        on stocked.series_id = ad_spend.series_id
            and stocked.demand_date = ad_spend.spend_date
),

described as (
    select
        series.sku,
        series.marketplace,
        series.currency,
        marketplaces.vat_rate,
        marketplaces.prices_include_vat,
        fx.usd_per_unit as usd_per_local,
        joined.*
    from joined
    inner join series on joined.series_id = series.series_id
    left join marketplaces on series.marketplace = marketplaces.marketplace
    left join fx on series.currency = fx.currency and joined.demand_date = fx.rate_date
),

final as (
    select
        -- ids
        sku,
        marketplace,
        demand_date,
        currency,
        -- demand
        units,
        order_lines,
        revenue_local,
        case
            when prices_include_vat then revenue_local / (1 + vat_rate)
            when prices_include_vat is false then revenue_local
        end as revenue_net_local,
        case when revenue_local = 0 then 0.0 else revenue_local * usd_per_local end
            as revenue_usd,
        case
            when revenue_local = 0 then 0.0
            when prices_include_vat then revenue_local / (1 + vat_rate) * usd_per_local
            when prices_include_vat is false then revenue_local * usd_per_local
        end as revenue_net_usd,
        case when units > 0 then revenue_local / units end as avg_selling_price_local,
        -- price and promotion
        list_price_local,
        discount_pct is not null as is_promoted,
        coalesce(discount_pct, 0.0) as discount_pct,
        -- advertising
        case
            when ad_spend_raw is null then 0.0
            when ad_spend_is_local then ad_spend_raw
            else ad_spend_usd_raw / usd_per_local
        end as ad_spend_local,
        coalesce(ad_spend_usd_raw, case when ad_spend_raw is null then 0.0 end)
            as ad_spend_usd,
        -- stock
        on_hand_start,
        case
            when units > 0 or on_hand_start > 0 then true
            when on_hand_start = 0 then false
        end as in_stock,
        -- a stock-out day: zero sales say nothing about demand
        (on_hand_start = 0 and units = 0) is true as is_censored,
        usd_per_local,
        (select watermark.orders_ingested_through from watermark) as orders_ingested_through
    from described
)

select * from final
