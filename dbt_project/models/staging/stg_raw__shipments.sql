with source as (
    select * from {{ source('raw', 'shipments') }}
),

renamed as (
    select
        cast(shipment_id as varchar) as shipment_id,
        cast(lane_id as varchar) as lane_id,
        cast(sku as varchar) as sku,
        cast(quantity as bigint) as quantity,
        cast(departed_date as date) as departed_date,
        cast(expected_arrival_date as date) as expected_arrival_date,
        cast(arrived_date as date) as arrived_date,
        cast(freight_cost as double) as freight_cost,
        cast(cost_currency as varchar) as cost_currency,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
