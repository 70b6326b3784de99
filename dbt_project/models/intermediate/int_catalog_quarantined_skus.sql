-- SKUs whose catalog row was quarantined and that have no accepted catalog row: ingest keeps
-- their orders (the SKU is known), but their cost, weight and HS code are unknown. One row per
-- SKU with every quarantined row of it, as "raw/<file> row <n>: <rules>: <reason>".
with quarantined as (
    select *
    from {{ ref('stg_quality__quarantine') }}
    where entity = 'catalog' and sku is not null
),

catalog as (
    select distinct sku from {{ ref('stg_raw__catalog') }}
),

issues as (
    select
        quarantined.sku,
        'raw/' || quarantined.source_file as catalog_file,
        quarantined.source_row as catalog_row,
        quarantined.failed_rules,
        'raw/'
        || quarantined.source_file
        || ' row '
        || coalesce(cast(quarantined.source_row as varchar), '?')
        || ': '
        || array_to_string(quarantined.failed_rules, ', ') || ': ' || quarantined.reason as issue
    from quarantined
    -- a duplicate whose first row was accepted leaves the SKU in the catalog
    where quarantined.sku not in (
            select catalog.sku from catalog
            where catalog.sku is not null
        )
),

final as (
    select
        sku,
        string_agg(issue, '; ' order by catalog_file, catalog_row) as catalog_issue,
        arg_min(catalog_file, { 'file': catalog_file, 'row': catalog_row }) as catalog_file,
        arg_min(catalog_row, { 'file': catalog_file, 'row': catalog_row }) as catalog_row,
        array_to_string(list_sort(list_distinct(flatten(list(failed_rules)))), ', ')
            as failed_rules,
        count(*) as quarantined_rows
    from issues
    group by sku
)

select * from final
