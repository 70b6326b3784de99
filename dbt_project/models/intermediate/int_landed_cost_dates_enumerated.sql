-- The dates landed cost is computed on, per listing: the first day of each month of the history
-- (FX moves), the as-of date, and every day a tariff measure that can apply to the listing starts
-- or ends (valid_to + 1) between the history start and the end of the future horizon.
with listings as (
    select
        sku,
        marketplace
    from {{ ref('int_listings_identified') }}
),

bounds as (
    select
        {{ history_start_date() }} as history_start,
        {{ as_of_date() }} as as_of_date,
        {{ as_of_date() }} + {{ var('future_horizon_days') }} as horizon_end
),

history_dates as (
    select distinct
        cast(unnest(generate_series(
            date_trunc('month', history_start), as_of_date, interval 1 month
        )) as date) as effective_date
    from bounds
    union
    select history_start from bounds
    union
    select as_of_date from bounds
),

tariff_dates as (
    select
        sku,
        marketplace,
        valid_from as effective_date
    from {{ ref('int_tariff_measures_matched') }}
    union
    select
        sku,
        marketplace,
        valid_to + 1 as effective_date
    from {{ ref('int_tariff_measures_matched') }}
    where valid_to is not null
),

candidates as (
    select
        listings.sku,
        listings.marketplace,
        history_dates.effective_date
    from listings
    cross join history_dates
    union
    select
        sku,
        marketplace,
        effective_date
    from tariff_dates
),

final as (
    select
        candidates.sku,
        candidates.marketplace,
        candidates.effective_date,
        candidates.effective_date = bounds.as_of_date as is_as_of,
        candidates.effective_date > bounds.as_of_date as is_future
    from candidates
    cross join bounds
    where candidates.effective_date between bounds.history_start and bounds.horizon_end
)

select * from final
