-- The ingest layer's quarantine, with the SKU a row names read from its original values: the
-- file's column names are as written, so "sku" is matched trimmed and in any case, as ingest
-- matches headers to the contract.
with source as (
    select * from {{ source('quality', 'quarantine') }}
),

keyed as (
    select
        *,
        list_filter(
            json_keys(original_values), lambda k: lower(trim(k)) = 'sku'
        )[1] as sku_key
    from source
),

renamed as (
    select
        cast(entity as varchar) as entity,
        cast(source_file as varchar) as source_file,
        cast(row_number as bigint) as source_row,
        cast(failed_rule as varchar) as failed_rule,
        cast(failed_rules as varchar[]) as failed_rules,
        cast(reason as varchar) as reason,
        original_values,
        nullif(trim(json_extract_string(
            original_values, '$."' || replace(sku_key, '"', '\"') || '"'
        )), '') as sku,
        cast(partition_key as varchar) as partition_key,
        cast(run_id as varchar) as run_id,
        cast(quarantined_at as timestamp) as quarantined_at
    from keyed
),

final as (
    select * from renamed
)

select * from final
