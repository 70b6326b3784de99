with source as (
    select * from {{ source('raw', 'fx_rates') }}
),

renamed as (
    select
        cast(rate_date as date) as rate_date,
        cast(currency as varchar) as currency,
        cast(usd_per_unit as double) as usd_per_unit,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
