with source as (
    select * from {{ source('raw', 'tariff_measures') }}
),

renamed as (
    select
        cast(measure_id as varchar) as measure_id,
        cast(destination as varchar) as destination,
        cast(hs_code_prefix as varchar) as hs_code_prefix,
        cast(origin_country as varchar) as origin_country,
        cast(measure_type as varchar) as measure_type,
        cast(rate_type as varchar) as rate_type,
        cast(ad_valorem_rate as double) as ad_valorem_rate,
        cast(specific_rate as double) as specific_rate,
        cast(specific_unit as varchar) as specific_unit,
        cast(rate_currency as varchar) as rate_currency,
        cast(value_threshold as double) as value_threshold,
        cast(threshold_currency as varchar) as threshold_currency,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(legal_basis as varchar) as legal_basis,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
