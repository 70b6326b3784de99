with source as (
    select * from {{ source('raw', 'ad_spend') }}
),

renamed as (
    select
        cast(spend_date as date) as spend_date,
        cast(sku as varchar) as sku,
        cast(marketplace as varchar) as marketplace,
        cast(spend as double) as spend,
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
