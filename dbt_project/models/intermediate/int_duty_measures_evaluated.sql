-- Every measure in force for a landed-cost scenario, with what it costs per unit and whether it
-- applies. Amounts: ad valorem x customs value; specific x (weight if per kg, 1 if per item),
-- converted from the rate currency; compound = both. A value threshold on a measure limits it to
-- consignments at or below it (express ships one unit per consignment, bulk modes
-- var units_per_shipment units). De minimis is for express parcels only: in force with a
-- positive threshold the consignment value does not exceed, it waives mfn / preferential /
-- additional / anti-dumping duty (surcharges still apply); several de minimis measures in force
-- give the lowest threshold (a threshold of 0 switches de minimis off). A preferential rate that
-- applies replaces the mfn rate.
with scenarios as (
    select * from {{ ref('int_landed_cost_bases_computed') }}
),

measures as (
    select * from {{ ref('int_tariff_measures_selected') }}
),

fx as (
    select * from {{ ref('int_fx_rates_filled') }}
),

priced as (
    select
        scenarios.sku,
        scenarios.marketplace,
        scenarios.mode,
        scenarios.effective_date,
        scenarios.currency,
        scenarios.usd_per_local,
        scenarios.customs_value_usd,
        scenarios.consignment_value_usd,
        measures.measure_id,
        measures.measure_type,
        measures.legal_basis,
        measures.rate_type,
        measures.ad_valorem_rate,
        measures.specific_rate,
        measures.specific_unit,
        measures.rate_currency,
        measures.value_threshold,
        measures.threshold_currency,
        measures.value_threshold * threshold_fx.usd_per_unit as value_threshold_usd,
        -- the contract guarantees the rate columns match the rate type (incomplete_rate rule)
        case measures.rate_type
            when 'ad_valorem' then measures.ad_valorem_rate * scenarios.customs_value_usd
            when 'compound'
                then measures.ad_valorem_rate * scenarios.customs_value_usd
                    + (
                        measures.specific_rate * rate_fx.usd_per_unit
                        * case
                            when measures.specific_unit = 'kg' then scenarios.weight_kg else 1.0
                        end
                    )
            -- specific and per_item: an amount per kg or per item
            else (
                measures.specific_rate * rate_fx.usd_per_unit
                * case when measures.specific_unit = 'kg' then scenarios.weight_kg else 1.0 end
            )
        end as full_amount_usd
    from scenarios
    inner join measures
        on scenarios.sku = measures.sku
            and scenarios.marketplace = measures.marketplace
            and scenarios.effective_date = measures.effective_date
    left join fx as threshold_fx
        on measures.threshold_currency = threshold_fx.currency
            and scenarios.effective_date = threshold_fx.rate_date
    left join fx as rate_fx
        on measures.rate_currency = rate_fx.currency
            and scenarios.effective_date = rate_fx.rate_date
),

thresholded as (
    select
        *,
        measure_type <> 'de_minimis'
        and (value_threshold is null or consignment_value_usd <= value_threshold_usd)
            as within_threshold,
        min(case when measure_type = 'de_minimis' then coalesce(value_threshold_usd, 0) end)
            over scenario as de_minimis_threshold_usd
    from priced
    window scenario as (partition by sku, marketplace, mode, effective_date)
),

exempted as (
    select
        *,
        coalesce(
            mode = 'express'
            and de_minimis_threshold_usd > 0
            and consignment_value_usd <= de_minimis_threshold_usd,
            false
        ) as de_minimis_applies,
        bool_or(measure_type = 'preferential' and within_threshold) over scenario
            as has_preference
    from thresholded
    window scenario as (partition by sku, marketplace, mode, effective_date)
),

evaluated as (
    select
        *,
        case
            when measure_type = 'de_minimis' and de_minimis_applies then 'applied'
            when measure_type = 'de_minimis' then 'not_applicable'
            when not within_threshold then 'above_threshold'
            when de_minimis_applies
                and measure_type in ('mfn', 'preferential', 'additional', 'anti_dumping')
                then 'waived_de_minimis'
            when measure_type = 'mfn' and has_preference then 'replaced_by_preferential'
            else 'applied'
        end as status
    from exempted
),

final as (
    select
        sku,
        marketplace,
        mode,
        effective_date,
        measure_id,
        measure_type,
        legal_basis,
        rate_type,
        ad_valorem_rate,
        specific_rate,
        specific_unit,
        rate_currency,
        value_threshold,
        threshold_currency,
        value_threshold_usd,
        customs_value_usd,
        consignment_value_usd,
        status,
        status = 'applied' as is_applied,
        -- de minimis itself costs nothing: its effect is the duty it waives
        case
            when status = 'applied' and measure_type <> 'de_minimis' then full_amount_usd
            else 0.0
        end as amount_usd,
        case
            when status = 'applied' and measure_type <> 'de_minimis'
                then full_amount_usd / usd_per_local
            else 0.0
        end as amount_local,
        currency
    from evaluated
)

select * from final
