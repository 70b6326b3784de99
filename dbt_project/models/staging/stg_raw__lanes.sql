with source as (
    select * from {{ source('raw', 'lanes') }}
),

renamed as (
    select
        cast(lane_id as varchar) as lane_id,
        cast(origin_warehouse_id as varchar) as origin_warehouse_id,
        cast(destination_warehouse_id as varchar) as destination_warehouse_id,
        cast(mode as varchar) as mode,
        cast(cost_per_kg as double) as cost_per_kg,
        cast(fixed_cost_per_shipment as double) as fixed_cost_per_shipment,
        cast(cost_currency as varchar) as cost_currency,
        cast(transit_days_min as bigint) as transit_days_min,
        cast(transit_days_typical as bigint) as transit_days_typical,
        cast(transit_days_max as bigint) as transit_days_max,
        cast(insurance_rate as double) as insurance_rate,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
