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
        sku,
        'raw/' || source_file as catalog_file,
        source_row as catalog_row,
        failed_rules,
        'raw/' || source_file || ' row ' || coalesce(cast(source_row as varchar), '?') || ': '
            || array_to_string(failed_rules, ', ') || ': ' || reason as issue
    from quarantined
    -- a duplicate whose first row was accepted leaves the SKU in the catalog
    where sku not in (select sku from catalog where sku is not null)
),

final as (
    select
        sku,
        string_agg(issue, '; ' order by catalog_file, catalog_row) as catalog_issue,
        arg_min(catalog_file, {'file': catalog_file, 'row': catalog_row}) as catalog_file,
        arg_min(catalog_row, {'file': catalog_file, 'row': catalog_row}) as catalog_row,
        array_to_string(list_sort(list_distinct(flatten(list(failed_rules)))), ', ')
            as failed_rules,
        count(*) as quarantined_rows
    from issues
    group by sku
)

select * from final
