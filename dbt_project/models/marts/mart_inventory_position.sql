-- Stock position per SKU x warehouse as of each warehouse's latest snapshot (on or before the
-- as-of date): on hand, in transit to it, the demand rate of its marketplace over the last
-- var demand_window_days in-stock days, and days of cover. The hub serves no marketplace, so it
-- has no demand rate of its own.
with as_of as (
    select {{ as_of_date() }} as as_of_date
),

warehouses as (
    select * from {{ ref('stg_raw__warehouses') }}
),

snapshots as (
    select inventory.*
    from {{ ref('stg_raw__inventory') }} as inventory
    cross join as_of
    where inventory.snapshot_date <= as_of.as_of_date
),

latest_snapshot as (
    select
        warehouse_id,
        max(snapshot_date) as position_date
    from snapshots
    group by warehouse_id
),

on_hand as (
    -- a snapshot holds until the next one for the same warehouse and SKU
    select
        snapshots.warehouse_id,
        snapshots.sku,
        arg_max(snapshots.on_hand, snapshots.snapshot_date) as on_hand,
        max(snapshots.snapshot_date) as snapshot_date
    from snapshots
    group by snapshots.warehouse_id, snapshots.sku
),

in_transit as (
    select
        lanes.destination_warehouse_id as warehouse_id,
        shipments.sku,
        cast(sum(shipments.quantity) as bigint) as in_transit
    from {{ ref('stg_raw__shipments') }} as shipments
    inner join {{ ref('stg_raw__lanes') }} as lanes on shipments.lane_id = lanes.lane_id
    cross join as_of
    where shipments.departed_date <= as_of.as_of_date
        and (shipments.arrived_date is null or shipments.arrived_date > as_of.as_of_date)
    group by lanes.destination_warehouse_id, shipments.sku
),

positions as (
    select
        coalesce(on_hand.warehouse_id, in_transit.warehouse_id) as warehouse_id,
        coalesce(on_hand.sku, in_transit.sku) as sku,
        coalesce(on_hand.on_hand, 0) as on_hand,
        on_hand.snapshot_date,
        coalesce(in_transit.in_transit, 0) as in_transit
    from on_hand
    full outer join in_transit
        on on_hand.warehouse_id = in_transit.warehouse_id
            and on_hand.sku = in_transit.sku
),

recent_demand as (
    -- the last in-stock days (a stock-out day's zero is not demand), within a year
    select
        demand.sku,
        demand.marketplace,
        demand.units
    from {{ ref('fct_daily_demand') }} as demand
    cross join as_of
    where demand.demand_date <= as_of.as_of_date
        and demand.demand_date > as_of.as_of_date - 365
        and not demand.is_censored
    qualify row_number() over (
            partition by demand.sku, demand.marketplace order by demand.demand_date desc
        ) <= {{ var('demand_window_days') }}
),

demand_rate as (
    select
        sku,
        marketplace,
        avg(units) as avg_daily_demand,
        count(*) as demand_days
    from recent_demand
    group by sku, marketplace
),

final as (
    select
        -- ids
        positions.warehouse_id,
        positions.sku,
        warehouses.warehouse_type,
        warehouses.marketplace,
        coalesce(latest_snapshot.position_date, as_of.as_of_date) as position_date,
        positions.snapshot_date,
        -- stock
        positions.on_hand,
        positions.in_transit,
        positions.on_hand + positions.in_transit as on_hand_and_in_transit,
        -- demand and cover
        demand_rate.avg_daily_demand,
        demand_rate.demand_days,
        case when demand_rate.avg_daily_demand > 0
                then positions.on_hand / demand_rate.avg_daily_demand
        end as days_of_cover,
        case when demand_rate.avg_daily_demand > 0
                then (positions.on_hand + positions.in_transit) / demand_rate.avg_daily_demand
        end as days_of_cover_with_transit,
        case
            when demand_rate.avg_daily_demand is null then null
            when demand_rate.avg_daily_demand = 0 then false
            else positions.on_hand / demand_rate.avg_daily_demand
                < {{ var('at_risk_days_of_supply') }}
        end as is_at_risk
    from positions
    cross join as_of
    left join warehouses on positions.warehouse_id = warehouses.warehouse_id
    left join latest_snapshot on positions.warehouse_id = latest_snapshot.warehouse_id
    left join demand_rate
        on positions.sku = demand_rate.sku
            and warehouses.marketplace = demand_rate.marketplace
            and warehouses.warehouse_type = 'market'
)

select * from final
