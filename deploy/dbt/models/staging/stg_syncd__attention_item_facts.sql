-- syncd's analytics view (docs/schema.md): time to resolve, open or not.
select * from {{ source('syncd', 'attention_item_facts') }}
