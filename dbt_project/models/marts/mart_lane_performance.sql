-- Per lane: how its shipments did against the quote. A shipment (several SKU lines) counts once;
-- on time means arrived on or before the date promised at departure. "In transit" is as of the
-- as-of date, and so is the USD rate of the lane's fixed cost per departure.
with lanes as (
    select * from {{ ref('stg_raw__lanes') }}
),

fx as (
    select * from {{ ref('int_fx_rates_filled') }}
),

shipments as (
    select
        shipment_id,
        lane_id,
        min(departed_date) as departed_date,
        max(expected_arrival_date) as expected_arrival_date,
        -- a shipment has arrived when its last line has
        case when count(arrived_date) = count(*) then max(arrived_date) end as arrived_date,
        cast(sum(quantity) as bigint) as units
    from {{ ref('stg_raw__shipments') }}
    group by shipment_id, lane_id
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

measured as (
    select
        shipments.*,
        shipments.arrived_date is not null and shipments.arrived_date <= as_of.as_of_date
            as has_arrived,
        shipments.arrived_date - shipments.departed_date as transit_days,
        shipments.arrived_date - shipments.expected_arrival_date as delay_days,
        shipments.departed_date <= as_of.as_of_date
        and (shipments.arrived_date is null or shipments.arrived_date > as_of.as_of_date)
            as is_in_transit
    from shipments
    cross join as_of
    where shipments.departed_date <= as_of.as_of_date
),

per_lane as (
    select
        lane_id,
        count(*) as shipments,
        count(*) filter (where has_arrived) as shipments_arrived,
        cast(sum(units) as bigint) as units_shipped,
        avg(case when delay_days <= 0 then 1.0 else 0.0 end) filter (where has_arrived)
            as on_time_rate,
        quantile_cont(transit_days, 0.5) filter (where has_arrived) as transit_days_p50,
        quantile_cont(transit_days, 0.9) filter (where has_arrived) as transit_days_p90,
        avg(transit_days) filter (where has_arrived) as transit_days_mean,
        stddev_samp(transit_days) filter (where has_arrived) as transit_days_sd,
        avg(delay_days) filter (where has_arrived) as delay_days_mean,
        max(departed_date) as last_departed_date,
        count(*) filter (where is_in_transit) as shipments_in_transit,
        cast(coalesce(sum(units) filter (where is_in_transit), 0) as bigint) as units_in_transit
    from measured
    group by lane_id
),

final as (
    select
        -- ids
        lanes.lane_id,
        lanes.mode,
        lanes.origin_warehouse_id,
        lanes.destination_warehouse_id,
        -- volume
        coalesce(per_lane.shipments, 0) as shipments,
        coalesce(per_lane.shipments_arrived, 0) as shipments_arrived,
        coalesce(per_lane.units_shipped, 0) as units_shipped,
        -- reliability
        per_lane.on_time_rate,
        per_lane.transit_days_p50,
        per_lane.transit_days_p90,
        per_lane.transit_days_mean,
        per_lane.transit_days_sd,
        per_lane.delay_days_mean,
        -- quoted vs actual
        lanes.transit_days_min as quoted_transit_days_min,
        lanes.transit_days_typical as quoted_transit_days_typical,
        lanes.transit_days_max as quoted_transit_days_max,
        per_lane.transit_days_p50 - lanes.transit_days_typical as transit_p50_vs_typical_days,
        -- cost of a departure (the planner's sailing interval weighs it against holding)
        lanes.fixed_cost_per_shipment * fx.usd_per_unit as fixed_cost_per_shipment_usd,
        per_lane.last_departed_date,
        -- now
        coalesce(per_lane.shipments_in_transit, 0) as shipments_in_transit,
        coalesce(per_lane.units_in_transit, 0) as units_in_transit
    from lanes
    left join per_lane on lanes.lane_id = per_lane.lane_id
    left join fx
        on lanes.cost_currency = fx.currency and fx.rate_date = {{ as_of_date() }}
)

select * from final
