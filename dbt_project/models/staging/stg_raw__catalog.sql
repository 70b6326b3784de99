with source as (
    select * from {{ source('raw', 'catalog') }}
),

renamed as (
    select
        cast(sku as varchar) as sku,
        cast(title as varchar) as title,
        cast(category as varchar) as category,
        cast(hs_code as varchar) as hs_code,
        cast(origin_country as varchar) as origin_country,
        cast(unit_cost as double) as unit_cost,
        cast(cost_currency as varchar) as cost_currency,
        cast(weight_kg as double) as weight_kg,
        cast(launch_date as date) as launch_date,
        cast(discontinued_date as date) as discontinued_date,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
