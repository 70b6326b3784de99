-- One row per tariff measure applied to a landed-cost scenario (mart_landed_cost's grain):
-- what it is, its rate and what it costs per unit. An applied de minimis measure is listed with
-- a zero amount: it is why the duties it waived are not here.
with evaluated as (
    select * from {{ ref('int_duty_measures_evaluated') }}
),

final as (
    select
        -- ids
        sku,
        marketplace,
        mode,
        effective_date,
        measure_id,
        -- measure
        measure_type,
        legal_basis,
        rate_type,
        ad_valorem_rate,
        specific_rate,
        specific_unit,
        rate_currency,
        value_threshold,
        threshold_currency,
        -- amounts per unit
        customs_value_usd,
        amount_usd,
        amount_local,
        currency
    from evaluated
    where is_applied
)

select * from final
