-- One landed-cost scenario per listing x mode x date, with the costs that do not depend on
-- duty, all per unit in USD: unit cost, freight (per kg + the shipment's fixed cost spread over
-- var units_per_shipment), insurance, the customs value on the destination's basis (FOB: goods;
-- CIF: goods + freight + insurance), customs fees and the fulfilment fee. A listing whose
-- marketplace has no lane gets one scenario with no mode and no freight.
with dates as (
    select * from {{ ref('int_landed_cost_dates_enumerated') }}
),

skus as (
    select * from {{ ref('int_skus_resolved') }}
),

marketplaces as (
    select * from {{ ref('int_marketplaces_resolved') }}
),

lanes as (
    select * from {{ ref('int_lanes_mapped') }}
    -- one lane per marketplace and mode (a marketplace served by two warehouses: lowest id)
    qualify row_number() over (partition by marketplace, mode order by lane_id) = 1
),

fx as (
    select * from {{ ref('int_fx_rates_filled') }}
),

fees as (
    select * from {{ ref('customs_fees') }}
),

scenarios as (
    select
        dates.sku,
        dates.marketplace,
        lanes.mode,
        lanes.lane_id,
        dates.effective_date,
        dates.is_as_of,
        dates.is_future,
        marketplaces.country as destination_country,
        marketplaces.currency,
        marketplaces.customs_basis,
        marketplaces.vat_rate,
        marketplaces.prices_include_vat,
        marketplaces.referral_fee_rate,
        skus.weight_kg,
        {{ units_per_shipment('lanes.mode') }} as units_per_consignment,
        skus.unit_cost * cost_fx.usd_per_unit as unit_cost_usd,
        (
            lanes.cost_per_kg * skus.weight_kg
            + lanes.fixed_cost_per_shipment / {{ units_per_shipment('lanes.mode') }}
        )
        * lane_fx.usd_per_unit as freight_usd,
        lanes.insurance_rate,
        (
            marketplaces.fulfilment_fee_per_unit
            + marketplaces.fulfilment_fee_per_kg * skus.weight_kg
        )
        * local_fx.usd_per_unit as fulfilment_fee_usd,
        local_fx.usd_per_unit as usd_per_local
    from dates
    inner join skus on dates.sku = skus.sku
    inner join marketplaces on dates.marketplace = marketplaces.marketplace
    left join lanes on dates.marketplace = lanes.marketplace
    left join fx as cost_fx
        on skus.cost_currency = cost_fx.currency and dates.effective_date = cost_fx.rate_date
    left join fx as lane_fx
        on lanes.cost_currency = lane_fx.currency and dates.effective_date = lane_fx.rate_date
    left join fx as local_fx
        on marketplaces.currency = local_fx.currency and dates.effective_date = local_fx.rate_date
),

valued as (
    select
        *,
        insurance_rate * (unit_cost_usd + freight_usd) as insurance_usd,
        case customs_basis
            when 'FOB' then unit_cost_usd
            -- without a lane the freight is unknown: the customs value is the goods alone
            when 'CIF' then unit_cost_usd + coalesce(freight_usd, 0)
                + coalesce(insurance_rate * (unit_cost_usd + freight_usd), 0)
        end as customs_value_usd
    from scenarios
),

fee_amounts as (
    select
        valued.sku,
        valued.marketplace,
        valued.mode,
        valued.effective_date,
        -- fees are charged per entry (clamped to their min/max there) and spread over its units
        sum(
            -- greatest/least skip NULLs: an unknown customs value must not become the minimum
            case when valued.customs_value_usd is not null then least(
                        greatest(
                            fees.rate * valued.customs_value_usd * valued.units_per_consignment,
                            coalesce(fees.min_per_entry, 0)
                        ),
                        coalesce(fees.max_per_entry, 'infinity'::double)
                    ) / valued.units_per_consignment
            end
        ) as customs_fees_usd,
        string_agg(fees.fee_code, ',' order by fees.fee_code) as customs_fee_codes
    from valued
    inner join fees
        on valued.destination_country = fees.destination
            and list_contains(string_split(fees.modes, '|'), valued.mode)
            and valued.effective_date >= fees.valid_from
            and (fees.valid_to is null or valued.effective_date <= fees.valid_to)
    group by valued.sku, valued.marketplace, valued.mode, valued.effective_date
),

final as (
    select
        valued.sku,
        valued.marketplace,
        valued.mode,
        valued.lane_id,
        valued.effective_date,
        valued.is_as_of,
        valued.is_future,
        valued.destination_country,
        valued.currency,
        valued.customs_basis,
        valued.vat_rate,
        valued.prices_include_vat,
        valued.referral_fee_rate,
        valued.weight_kg,
        valued.units_per_consignment,
        valued.usd_per_local,
        valued.unit_cost_usd,
        valued.freight_usd,
        valued.insurance_usd,
        valued.customs_value_usd,
        valued.customs_value_usd * valued.units_per_consignment as consignment_value_usd,
        case
            when valued.customs_value_usd is not null
                then coalesce(fee_amounts.customs_fees_usd, 0.0)
        end as customs_fees_usd,
        fee_amounts.customs_fee_codes,
        valued.fulfilment_fee_usd
    from valued
    left join fee_amounts
        on valued.sku = fee_amounts.sku
            and valued.marketplace = fee_amounts.marketplace
            and valued.mode = fee_amounts.mode
            and valued.effective_date = fee_amounts.effective_date
)

select * from final
