-- syncd's analytics view (docs/schema.md): first response, resolution, reopens, counts.
select * from {{ source('syncd', 'conversation_facts') }}
