with source as (
    select * from {{ source('raw', 'prices') }}
),

renamed as (
    select
        cast(sku as varchar) as sku,
        cast(marketplace as varchar) as marketplace,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(list_price as double) as list_price,
        cast(currency as varchar) as currency,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
