-- One USD rate per currency and day, from the currency's first quoted day to the end of the
-- tariff horizon: gaps (weekends, holidays, the future) carry the last known rate forward.
-- When the history starts at most var fx_first_quote_reach_days before a currency's first quote
-- (a weekly order file dates each week by its Monday, so its history can start up to 6 days
-- before the first day of sales the FX file was cut to), those lead-in days take the first
-- quote (quoted_on after rate_date shows it). A longer lead-in stays without a rate.
with rates as (
    select
        rate_date,
        currency,
        usd_per_unit
    from {{ ref('stg_raw__fx_rates') }}
    -- USD is 1 by definition, whatever a file says.
    where currency <> 'USD'
),

horizon as (
    select
        least({{ history_start_date() }}, (select min(rate_date) from rates)) as first_date,
        {{ as_of_date() }} + {{ var('future_horizon_days') }} as last_date
),

currencies as (
    select
        currency,
        min(rate_date) as first_rate_date,
        arg_min(usd_per_unit, rate_date) as first_usd_per_unit
    from rates
    group by currency
),

reach as (
    select
        currencies.*,
        case
            when {{ history_start_date() }} < currencies.first_rate_date
                and currencies.first_rate_date - {{ history_start_date() }}
                <= {{ var('fx_first_quote_reach_days') }}
                then {{ history_start_date() }}
            else currencies.first_rate_date
        end as calendar_start
    from currencies
),

calendar as (
    select
        reach.currency,
        reach.first_rate_date,
        reach.first_usd_per_unit,
        cast(unnest(generate_series(
            reach.calendar_start,
            greatest(horizon.last_date, reach.first_rate_date),
            interval 1 day
        )) as date) as rate_date
    from reach
    cross join horizon
),

carried as (
    select
        calendar.rate_date,
        calendar.currency,
        -- before the first quote (the lead-in above): the first quote
        coalesce(rates.usd_per_unit, calendar.first_usd_per_unit) as usd_per_unit,
        coalesce(rates.rate_date, calendar.first_rate_date) as quoted_on
    from calendar
    asof left join rates
        on calendar.currency = rates.currency
            and calendar.rate_date >= rates.rate_date
),

usd as (
    select
        cast(unnest(generate_series(first_date, last_date, interval 1 day)) as date) as rate_date,
        'USD' as currency,
        1.0 as usd_per_unit,
        cast(null as date) as quoted_on
    from horizon
),

final as (
    select
        rate_date,
        currency,
        usd_per_unit,
        quoted_on
    from carried
    union all
    select
        rate_date,
        currency,
        usd_per_unit,
        quoted_on
    from usd
)

select * from final
