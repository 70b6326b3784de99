-- Landed cost per unit by SKU x marketplace x mode x effective date, every component itemized in
-- USD and in the marketplace's currency. Import VAT (charged where the marketplace's prices
-- include VAT, on customs value + duty + fees) is shown apart; it is left out of landed_cost when
-- var import_vat_recoverable is true. The referral fee comes off the selling price, so it is
-- shown but not part of landed cost (cost_to_serve adds it).
with bases as (
    select * from {{ ref('int_landed_cost_bases_computed') }}
),

duty_lines as (
    select * from {{ ref('mart_landed_cost_duty_lines') }}
),

reference_prices as (
    select * from {{ ref('int_reference_prices_resolved') }}
),

duties as (
    select
        sku,
        marketplace,
        mode,
        effective_date,
        sum(amount_usd) filter (where measure_type in ('mfn', 'preferential')) as duty_mfn_usd,
        sum(amount_usd) filter (where measure_type = 'additional') as duty_additional_usd,
        sum(amount_usd) filter (where measure_type = 'anti_dumping') as duty_anti_dumping_usd,
        sum(amount_usd) filter (where measure_type = 'surcharge') as duty_surcharge_usd,
        sum(amount_usd) as duty_total_usd,
        string_agg(measure_id, ',' order by measure_id) as applied_measure_ids,
        max(measure_id) filter (where measure_type = 'de_minimis') as de_minimis_measure_id
    from duty_lines
    group by sku, marketplace, mode, effective_date
),

joined as (
    select
        bases.*,
        -- no measure applied is zero duty, unless the customs value itself is unknown
        case when bases.customs_value_usd is not null
                then coalesce(duties.duty_mfn_usd, 0.0)
        end as duty_mfn_usd,
        case when bases.customs_value_usd is not null
                then coalesce(duties.duty_additional_usd, 0.0)
        end as duty_additional_usd,
        case when bases.customs_value_usd is not null
                then coalesce(duties.duty_anti_dumping_usd, 0.0)
        end as duty_anti_dumping_usd,
        case when bases.customs_value_usd is not null
                then coalesce(duties.duty_surcharge_usd, 0.0)
        end as duty_surcharge_usd,
        case when bases.customs_value_usd is not null
                then coalesce(duties.duty_total_usd, 0.0)
        end as duty_total_usd,
        coalesce(duties.applied_measure_ids, '') as applied_measure_ids,
        duties.de_minimis_measure_id,
        reference_prices.reference_price_local,
        reference_prices.reference_price_source
    from bases
    left join duties
        on bases.sku = duties.sku
            and bases.marketplace = duties.marketplace
            and bases.mode is not distinct from duties.mode
            and bases.effective_date = duties.effective_date
    left join reference_prices
        on bases.sku = reference_prices.sku
            and bases.marketplace = reference_prices.marketplace
            and bases.effective_date = reference_prices.effective_date
),

taxed as (
    select
        *,
        case
            when prices_include_vat
                then vat_rate * (customs_value_usd + duty_total_usd + customs_fees_usd)
            when prices_include_vat is false then 0.0
        end as import_vat_usd,
        case
            when prices_include_vat then reference_price_local / (1 + vat_rate)
            when prices_include_vat is false then reference_price_local
        end as reference_price_net_local
    from joined
),

totalled as (
    select
        *,
        referral_fee_rate * reference_price_net_local * usd_per_local as referral_fee_usd,
        -- a missing lane or fulfilment fee leaves its component empty and out of the total
        unit_cost_usd + coalesce(freight_usd, 0) + coalesce(insurance_usd, 0) + duty_total_usd
        + customs_fees_usd + coalesce(fulfilment_fee_usd, 0) as landed_cost_excl_vat_usd
    from taxed
),

chosen as (
    select
        *,
        landed_cost_excl_vat_usd + import_vat_usd as landed_cost_incl_vat_usd,
        {% if var('import_vat_recoverable') -%}
            landed_cost_excl_vat_usd
        {%- else -%}
            landed_cost_excl_vat_usd + import_vat_usd
        {%- endif %} as landed_cost_usd
    from totalled
),

final as (
    select
        -- ids
        sku,
        marketplace,
        mode,
        effective_date,
        lane_id,
        -- dimensions
        destination_country,
        currency,
        customs_basis,
        is_as_of,
        is_future,
        freight_usd is null as is_freight_missing,
        de_minimis_measure_id is not null as is_de_minimis,
        de_minimis_measure_id,
        applied_measure_ids,
        customs_fee_codes,
        reference_price_source,
        usd_per_local,
        units_per_consignment,
        -- per unit, USD
        unit_cost_usd,
        freight_usd,
        insurance_usd,
        customs_value_usd,
        duty_mfn_usd,
        duty_additional_usd,
        duty_anti_dumping_usd,
        duty_surcharge_usd,
        duty_total_usd,
        customs_fees_usd,
        import_vat_usd,
        fulfilment_fee_usd,
        referral_fee_usd,
        landed_cost_excl_vat_usd,
        landed_cost_incl_vat_usd,
        landed_cost_usd,
        -- per unit, marketplace currency
        unit_cost_usd / usd_per_local as unit_cost_local,
        freight_usd / usd_per_local as freight_local,
        insurance_usd / usd_per_local as insurance_local,
        customs_value_usd / usd_per_local as customs_value_local,
        duty_mfn_usd / usd_per_local as duty_mfn_local,
        duty_additional_usd / usd_per_local as duty_additional_local,
        duty_anti_dumping_usd / usd_per_local as duty_anti_dumping_local,
        duty_surcharge_usd / usd_per_local as duty_surcharge_local,
        duty_total_usd / usd_per_local as duty_total_local,
        customs_fees_usd / usd_per_local as customs_fees_local,
        import_vat_usd / usd_per_local as import_vat_local,
        fulfilment_fee_usd / usd_per_local as fulfilment_fee_local,
        reference_price_local,
        reference_price_net_local,
        referral_fee_rate * reference_price_net_local as referral_fee_local,
        landed_cost_excl_vat_usd / usd_per_local as landed_cost_excl_vat_local,
        landed_cost_incl_vat_usd / usd_per_local as landed_cost_incl_vat_local,
        landed_cost_usd / usd_per_local as landed_cost_local,
        -- landed cost plus the referral fee: what a unit costs to sell
        landed_cost_usd + referral_fee_usd as cost_to_serve_usd
    from chosen
)

select * from final
