-- One USD rate per currency and day, from the currency's first quoted day to the end of the
-- tariff horizon: gaps (weekends, holidays, the future) carry the last known rate forward.
with rates as (
    select rate_date, currency, usd_per_unit
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
    select currency, min(rate_date) as first_rate_date
    from rates
    group by currency
),

calendar as (
    select
        currencies.currency,
        cast(unnest(generate_series(
            currencies.first_rate_date,
            greatest(horizon.last_date, currencies.first_rate_date),
            interval 1 day
        )) as date) as rate_date
    from currencies
    cross join horizon
),

carried as (
    select
        calendar.rate_date,
        calendar.currency,
        rates.usd_per_unit,
        rates.rate_date as quoted_on
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
        null::date as quoted_on
    from horizon
),

final as (
    select rate_date, currency, usd_per_unit, quoted_on from carried
    union all
    select rate_date, currency, usd_per_unit, quoted_on from usd
)

select * from final
