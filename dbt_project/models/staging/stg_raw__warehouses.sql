with source as (
    select * from {{ source('raw', 'warehouses') }}
),

renamed as (
    select
        cast(warehouse_id as varchar) as warehouse_id,
        cast(name as varchar) as warehouse_name,
        cast(country as varchar) as country,
        cast(warehouse_type as varchar) as warehouse_type,
        cast(marketplace as varchar) as marketplace,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
