-- Lanes from the hub to a market warehouse, placed on the marketplace that warehouse serves.
with lanes as (
    select * from {{ ref('stg_raw__lanes') }}
),

warehouses as (
    select * from {{ ref('stg_raw__warehouses') }}
),

final as (
    select
        lanes.lane_id,
        destinations.marketplace,
        lanes.mode,
        lanes.origin_warehouse_id,
        lanes.destination_warehouse_id,
        lanes.cost_per_kg,
        lanes.fixed_cost_per_shipment,
        lanes.cost_currency,
        lanes.insurance_rate,
        lanes.transit_days_min,
        lanes.transit_days_typical,
        lanes.transit_days_max
    from lanes
    inner join warehouses as origins
        on lanes.origin_warehouse_id = origins.warehouse_id
    inner join warehouses as destinations
        on lanes.destination_warehouse_id = destinations.warehouse_id
    where origins.warehouse_type = 'hub'
        and destinations.warehouse_type = 'market'
        and destinations.marketplace is not null
)

select * from final
