{#- No dbt packages are installed (the build must work offline), so the two generic tests we
    need from dbt_utils live here. -#}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- On a model: rows where the expression is not TRUE fail. On a column: the expression is
    appended to the column (e.g. ">= 0") and NULL values pass. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where
{%- if column_name %}
    {{ column_name }} is not null and not ({{ column_name }} {{ expression }})
{%- else %}
    not coalesce(({{ expression }}), false)
{%- endif %}
{% endtest %}

{#- A composite relationships test: every row's key (NULLs compared as equal) exists in `to`. -#}
{% test combination_exists_in(model, columns, to) %}
select *
from {{ model }} as child
where not exists (
    select 1
    from {{ to }} as parent
    where
    {%- for column in columns %}
        child.{{ column }} is not distinct from parent.{{ column }}
        {%- if not loop.last %} and{% endif %}
    {%- endfor %}
)
{% endtest %}

{#- Rows where a numeric column holds +/-infinity or NaN (NULL passes: not_null says that). An
    overflowing number or a 0/0 would otherwise spread silently through every sum and ratio.
    Applied per column in the yml files, to every numeric column of the marts and of the
    landed-cost inputs (tests/test_dbt_project.py checks none is missing): each failure names
    its model and column, and is its own asset check in Dagster. Integers cannot be infinite;
    their test is kept so that the rule stays "every numeric column" with no exceptions. -#}
{% test is_finite(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and not isfinite(cast({{ column_name }} as double))
{% endtest %}

{#- The opposite of combination_exists_in: rows whose key (NULLs compared as equal) is in `to`
    fail. -#}
{% test combination_absent_from(model, columns, to) %}
select *
from {{ model }} as child
where exists (
    select 1
    from {{ to }} as parent
    where
    {%- for column in columns %}
        child.{{ column }} is not distinct from parent.{{ column }}
        {%- if not loop.last %} and{% endif %}
    {%- endfor %}
)
{% endtest %}
