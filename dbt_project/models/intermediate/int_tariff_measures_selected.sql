-- The measures in force for a listing on each landed-cost date, after precedence: within each
-- (measure_type, legal_basis) group an origin-specific measure beats an ALL-origin one, then the
-- longest HS prefix wins (then a country destination beats a customs union). Different legal
-- bases are kept side by side: they stack. Thresholds and de minimis depend on the mode and are
-- applied in int_duty_measures_evaluated.
with dates as (
    select * from {{ ref('int_landed_cost_dates_enumerated') }}
),

matched as (
    select * from {{ ref('int_tariff_measures_matched') }}
),

-- The precedence is an aggregate over narrow keys (a hash aggregate), not a window over every
-- wide column: at 10,000 SKUs the window's sort did not fit a 4 GB memory cap.
selected as (
    select
        dates.sku,
        dates.marketplace,
        dates.effective_date,
        arg_min(
            matched.measure_id,
            {
                'origin_specific': matched.origin_country = 'ALL',
                'prefix_length': -length(matched.hs_code_prefix),
                'country_destination': matched.destination <> matched.destination_country,
                'measure_id': matched.measure_id
            }
        ) as measure_id
    from dates
    inner join matched
        on dates.sku = matched.sku
            and dates.marketplace = matched.marketplace
            and dates.effective_date >= matched.valid_from
            and (matched.valid_to is null or dates.effective_date <= matched.valid_to)
    group by
        dates.sku, dates.marketplace, dates.effective_date,
        matched.measure_type, matched.legal_basis
),

in_force as (
    select
        selected.effective_date,
        matched.*
    from selected
    inner join matched
        on selected.sku = matched.sku
            and selected.marketplace = matched.marketplace
            and selected.measure_id = matched.measure_id
),

final as (
    select
        sku,
        marketplace,
        effective_date,
        measure_id,
        measure_type,
        legal_basis,
        destination,
        hs_code_prefix,
        origin_country,
        rate_type,
        ad_valorem_rate,
        specific_rate,
        specific_unit,
        rate_currency,
        value_threshold,
        threshold_currency,
        valid_from,
        valid_to
    from in_force
)

select * from final
