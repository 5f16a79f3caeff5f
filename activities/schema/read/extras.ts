// What drizzle-kit's snapshot does not model, read from pg_catalog with a fixed number of set-based
// queries: extensions, functions, domains, composite types, views, triggers, rules, statistics,
// constraints drizzle cannot express, per-table and per-column settings, comments and grants, and
// objects we can only compare (operators, collations, ...). Names are raw in keys and quoted in
// `target`, the SQL that names the object.
import { Connections, rowsAsJson, type Queryable } from '../../db.ts';
import { ident } from '../../quote.ts';

export type ObjectKind =
  | 'extension' | 'function' | 'domain' | 'composite' | 'view' | 'matview' | 'index' | 'trigger'
  | 'constraint' | 'policy' | 'rule' | 'statistics' | 'sequence' | 'other'
  /** Only for dependencies: drizzle plans these. */
  | 'table' | 'enum';

export interface CatalogObject {
  /** `kind schema.name...`, raw names: the identity compared between prod and dev. */
  key: string;
  kind: ObjectKind;
  /** Quoted name as SQL uses it (`"public"."f"(integer)`, `"trg" ON "public"."t"`). */
  target: string;
  /** Compared between the two sides; equal definitions mean nothing to do. */
  definition: string;
  details: Record<string, any>;
}

/** A per-object property that is set with ALTER rather than created: collation, UNLOGGED, ... */
export interface Setting {
  kind: 'unlogged' | 'row-security' | 'force-rls' | 'reloptions' | 'collation' | 'storage' | 'compression' | 'statistics-target' | 'replica-identity' | 'sequence-owner';
  key: string;
  /** The table, column or sequence it belongs to (a key of the same form as objects'). */
  object: string;
  table: string;
  target: string;
  value: any;
}

export interface Comment { target: string; object: string; parent: string | null; text: string }

/** One grantee's privileges on one object: `actual` now, `initial` right after CREATE (`SELECT,UPDATE*`, * = grantable). */
export interface Grant { target: string; object: string; parent: string | null; column: string | null; grantee: string; actual: string; initial: string }

/** A table drizzle-kit misreads (partitioned, partition, inheritance): compared whole, never planned. */
export interface SpecialTable { key: string; snapshotKey: string; reason: string; signature: string }

/** The name Postgres chose for a table's primary key or a column's sequence (raw). */
export interface ImplicitName { kind: 'primary key' | 'sequence'; owner: string; name: string }

/** An object's raw names: its schema, the table it belongs to (a trigger's, an index's), its own name. */
export interface ObjectName { schema: string; table?: string; name: string }

export interface Extras {
  objects: CatalogObject[];
  /** Each object's raw names by its key: not compared (its key and definition are), read for the statements planned for it. */
  names: Record<string, ObjectName>;
  /** `[dependent key, referenced key, column-level]` */
  dependencies: [string, string, boolean][];
  settings: Setting[];
  comments: Comment[];
  grants: Grant[];
  specialTables: SpecialTable[];
  /** Constraints taken away from drizzle (checks, deferrable, NOT VALID, copies on partitions): `snapshot table key` → names. */
  constraintsOutsideDrizzle: Record<string, string[]>;
  implicitNames: ImplicitName[];
  roles: string[];
}

// Objects that belong to an extension are the extension's business.
const NOT_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `not exists (select from pg_depend e where e.classid = '${catalog}'::regclass and e.objid = ${oid} and e.deptype = 'e')`;

// A function is the same function when its name and argument types are: parameter names may change.
const FUNCTION_KEY = `'function ' || n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes) || ')'`;

// Rows: classid, objid, kind, key, target, definition, details, and the object's raw names (name_schema; name_table,
// for what lives on a table; name, null for kinds that have none to plan with), so that the statements planned for it
// carry them as structured data: keys join names with dots, which names may hold too. `aliases` maps more catalog
// rows (view rules, row and array types, composite relations) onto an object's key for dependencies.
const OBJECTS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1)),
rel as (select c.*, n.nspname from pg_class c join nsp n on n.oid = c.relnamespace),
objects as (
  select 'pg_extension'::regclass as classid, e.oid as objid, 'extension' as kind, 'extension ' || e.extname as key,
    format('%I', e.extname) as target, e.extversion || ' ' || n.nspname as definition,
    json_build_object('schema', format('%I', n.nspname), 'version', e.extversion) as details,
    n.nspname::text as name_schema, null::text as name_table, e.extname::text as name
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname <> 'plpgsql'
union all
  select 'pg_proc'::regclass, p.oid, 'function', ${FUNCTION_KEY},
    format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), pg_get_functiondef(p.oid),
    json_build_object('arguments', pg_get_function_identity_arguments(p.oid), 'atomic', p.prosqlbody is not null,
      'procedure', p.prokind = 'p', 'result', pg_get_function_result(p.oid)), n.nspname, null, p.proname
  from pg_proc p join nsp n on n.oid = p.pronamespace
  where p.prokind in ('f', 'p', 'w') and ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
union all
  select 'pg_type'::regclass, t.oid, 'domain', 'type ' || n.nspname || '.' || t.typname, format('%I.%I', n.nspname, t.typname), d::text, d,
    n.nspname, null, t.typname
  from pg_type t join nsp n on n.oid = t.typnamespace
  cross join lateral (select json_build_object(
    'base', format_type(t.typbasetype, t.typtypmod),
    'collation', (select format('%I.%I', cn.nspname, co.collname) from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace
                  where co.oid = t.typcollation and t.typcollation <> (select b.typcollation from pg_type b where b.oid = t.typbasetype)),
    'constraints', coalesce((select json_agg(json_build_array(format('%I', c.conname), pg_get_constraintdef(c.oid)) order by c.conname)
                             from pg_constraint c where c.contypid = t.oid), '[]'),
    'default', t.typdefault, 'notNull', t.typnotnull) as d) domain
  where t.typtype = 'd' and ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
union all
  select 'pg_type'::regclass, t.oid, 'composite', 'type ' || c.nspname || '.' || t.typname, format('%I.%I', c.nspname, t.typname), a.attributes::text,
    json_build_object('attributes', a.attributes, 'used', exists (
      select from pg_attribute u join pg_class uc on uc.oid = u.attrelid
      where u.atttypid = t.oid and uc.relkind in ('r', 'p', 'f', 'v', 'm') and not u.attisdropped)), c.nspname, null, t.typname
  from pg_type t join rel c on c.oid = t.typrelid and c.relkind = 'c'
  cross join lateral (select coalesce(json_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
      || case when a.attcollation <> at.typcollation then (select format(' COLLATE %I.%I', cn.nspname, co.collname) from pg_collation co
           join pg_namespace cn on cn.oid = co.collnamespace where co.oid = a.attcollation) else '' end order by a.attnum), '[]') as attributes
    from pg_attribute a join pg_type at on at.oid = a.atttypid where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) a
  where ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
union all
  select 'pg_type'::regclass, t.oid, 'enum', 'type ' || n.nspname || '.' || t.typname, format('%I.%I', n.nspname, t.typname), '', '{}',
    n.nspname, null, t.typname
  from pg_type t join nsp n on n.oid = t.typnamespace where t.typtype = 'e'
union all
  select 'pg_class'::regclass, c.oid, 'table', 'table ' || c.nspname || '.' || c.relname, format('%I.%I', c.nspname, c.relname), '', '{}',
    c.nspname, null, c.relname
  from rel c where c.relkind in ('r', 'p')
union all
  -- Sequences other than serial and identity ones, which drizzle plans with their column.
  select 'pg_class'::regclass, c.oid, 'sequence', 'sequence ' || c.nspname || '.' || c.relname, format('%I.%I', c.nspname, c.relname), d::text, d,
    c.nspname, null, c.relname
  from rel c join pg_sequence s on s.seqrelid = c.oid
  cross join lateral (select json_build_object('cache', s.seqcache::text, 'cycle', s.seqcycle, 'increment', s.seqincrement::text,
    'max', s.seqmax::text, 'min', s.seqmin::text, 'start', s.seqstart::text, 'type', format_type(s.seqtypid, null)) as d) options
  where not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'i')
    and not exists (select from pg_depend d join pg_attrdef ad on ad.adrelid = d.refobjid and ad.adnum = d.refobjsubid
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'a'
        -- "is true": not a hash key, which the planner computed for every relation
        and (pg_get_expr(ad.adbin, ad.adrelid) = format('nextval(%L::regclass)', c.oid::regclass)) is true)
union all
  select 'pg_class'::regclass, c.oid, case c.relkind when 'v' then 'view' else 'matview' end,
    case c.relkind when 'v' then 'view ' else 'matview ' end || c.nspname || '.' || c.relname, format('%I.%I', c.nspname, c.relname),
    pg_get_viewdef(c.oid) || coalesce(c.reloptions::text, '') || c.relispopulated::text || coalesce(am.amname, ''),
    json_build_object('options', array_to_string(c.reloptions, ', '), 'populated', c.relispopulated,
      'query', rtrim(pg_get_viewdef(c.oid), ';'), 'using', case when c.relkind = 'm' and am.amname <> 'heap' then format('%I', am.amname) end),
    c.nspname, null, c.relname
  from rel c left join pg_am am on am.oid = c.relam where c.relkind in ('v', 'm') and ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
union all
  select 'pg_class'::regclass, i.indexrelid, 'index', 'index ' || c.nspname || '.' || ic.relname, format('%I.%I', c.nspname, ic.relname),
    pg_get_indexdef(i.indexrelid), '{}', c.nspname, c.relname, ic.relname
  from pg_index i join pg_class ic on ic.oid = i.indexrelid join rel c on c.oid = i.indrelid and c.relkind = 'm'
union all
  select 'pg_trigger'::regclass, tg.oid, 'trigger', 'trigger ' || c.nspname || '.' || c.relname || '.' || tg.tgname,
    format('%I ON %I.%I', tg.tgname, c.nspname, c.relname), pg_get_triggerdef(tg.oid) || ' ' || tg.tgenabled::text,
    json_build_object('create', pg_get_triggerdef(tg.oid), 'enabled', tg.tgenabled, 'name', format('%I', tg.tgname), 'table', format('%I.%I', c.nspname, c.relname)),
    c.nspname, c.relname, tg.tgname
  from pg_trigger tg join rel c on c.oid = tg.tgrelid where not tg.tgisinternal and tg.tgparentid = 0
union all
  select 'pg_constraint'::regclass, co.oid, 'constraint', 'constraint ' || c.nspname || '.' || c.relname || '.' || co.conname,
    format('%I ON %I.%I', co.conname, c.nspname, c.relname), pg_get_constraintdef(co.oid),
    json_build_object('name', format('%I', co.conname),
      -- What drizzle-kit cannot express (its check constraints lose changes and NO INHERIT): planned here.
      'outsideDrizzle', co.contype in ('x', 'c') or co.condeferrable or not co.convalidated or (co.contype = 'f' and co.confmatchtype <> 's'),
      'rawName', co.conname, 'snapshotTable', c.nspname || '.' || c.relname, 'table', format('%I.%I', c.nspname, c.relname)),
    c.nspname, c.relname, co.conname
  from pg_constraint co join rel c on c.oid = co.conrelid
  where co.conparentid = 0 and co.contype in ('c', 'f', 'u', 'x')
union all
  select 'pg_policy'::regclass, po.oid, 'policy', 'policy ' || c.nspname || '.' || c.relname || '.' || po.polname,
    format('%I ON %I.%I', po.polname, c.nspname, c.relname),
    format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s', po.polname, c.nspname, c.relname,
      case when po.polpermissive then 'PERMISSIVE' else 'RESTRICTIVE' end,
      case po.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
      (select string_agg(case when r = 0 then 'PUBLIC' else format('%I', (select rolname from pg_roles where oid = r)) end, ', ' order by r)
       from unnest(po.polroles) r))
      || coalesce(' USING (' || pg_get_expr(po.polqual, po.polrelid) || ')', '')
      || coalesce(' WITH CHECK (' || pg_get_expr(po.polwithcheck, po.polrelid) || ')', ''),
    json_build_object('roles', (select coalesce(json_agg(rolname), '[]') from pg_roles where oid = any(po.polroles))),
    c.nspname, c.relname, po.polname
  from pg_policy po join rel c on c.oid = po.polrelid
union all
  select 'pg_rewrite'::regclass, r.oid, 'rule', 'rule ' || c.nspname || '.' || c.relname || '.' || r.rulename,
    format('%I ON %I.%I', r.rulename, c.nspname, c.relname), pg_get_ruledef(r.oid), '{}',
    c.nspname, c.relname, r.rulename
  from pg_rewrite r join rel c on c.oid = r.ev_class where r.rulename <> '_RETURN'
union all
  select 'pg_statistic_ext'::regclass, s.oid, 'statistics', 'statistics ' || n.nspname || '.' || s.stxname, format('%I.%I', n.nspname, s.stxname),
    pg_get_statisticsobjdef(s.oid) || ' ' || s.stxstattarget, json_build_object('create', pg_get_statisticsobjdef(s.oid), 'target', s.stxstattarget),
    n.nspname, null, s.stxname
  from pg_statistic_ext s join nsp n on n.oid = s.stxnamespace
union all
  -- Kinds we only compare: a difference is reported, never planned.
  select o.classid, o.objid, 'other', pg_describe_object(o.classid, o.objid, 0), '', o.definition, '{}', o.name_schema, null, o.name
  from (
    select 'pg_proc'::regclass as classid, p.oid as objid, pg_get_function_result(p.oid) as definition, n.nspname::text as name_schema,
        p.proname::text as name
      from pg_proc p join nsp n on n.oid = p.pronamespace
      where p.prokind = 'a' and ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
    -- The ICU locale column is colliculocale in Postgres 15-16 and colllocale from 17; 14 has neither.
    union all select 'pg_collation'::regclass, co.oid, concat_ws(' ', co.collprovider, co.collcollate, co.collctype, coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale'), co.collisdeterministic), null, null
      from pg_collation co join nsp n on n.oid = co.collnamespace where ${NOT_EXTENSION_MEMBER('pg_collation', 'co.oid')}
    union all select 'pg_operator'::regclass, o.oid, o.oprcode::text, null, null from pg_operator o join nsp n on n.oid = o.oprnamespace where ${NOT_EXTENSION_MEMBER('pg_operator', 'o.oid')}
    union all select 'pg_opclass'::regclass, o.oid, '', null, null from pg_opclass o join nsp n on n.oid = o.opcnamespace where ${NOT_EXTENSION_MEMBER('pg_opclass', 'o.oid')}
    union all select 'pg_opfamily'::regclass, o.oid, '', null, null from pg_opfamily o join nsp n on n.oid = o.opfnamespace where ${NOT_EXTENSION_MEMBER('pg_opfamily', 'o.oid')}
    union all select 'pg_ts_config'::regclass, o.oid, '', null, null from pg_ts_config o join nsp n on n.oid = o.cfgnamespace where ${NOT_EXTENSION_MEMBER('pg_ts_config', 'o.oid')}
    union all select 'pg_ts_dict'::regclass, o.oid, '', null, null from pg_ts_dict o join nsp n on n.oid = o.dictnamespace where ${NOT_EXTENSION_MEMBER('pg_ts_dict', 'o.oid')}
    union all select 'pg_conversion'::regclass, o.oid, '', null, null from pg_conversion o join nsp n on n.oid = o.connamespace where ${NOT_EXTENSION_MEMBER('pg_conversion', 'o.oid')}
    union all select 'pg_class'::regclass, c.oid, '', c.nspname, c.relname from rel c where c.relkind = 'f' and ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
    union all select 'pg_event_trigger'::regclass, o.oid, concat_ws(' ', o.evtevent, o.evtfoid::regproc, o.evtenabled, o.evttags), null, null from pg_event_trigger o
      where ${NOT_EXTENSION_MEMBER('pg_event_trigger', 'o.oid')}
    union all select 'pg_publication'::regclass, o.oid, concat_ws(' ', o.puballtables, o.pubinsert, o.pubupdate, o.pubdelete, o.pubtruncate), null, null from pg_publication o
    union all select 'pg_default_acl'::regclass, o.oid, o.defaclacl::text, null, null from pg_default_acl o
  ) o
),
aliases as (
  select classid, objid, key from objects
  union all select 'pg_rewrite'::regclass, r.oid, o.key from objects o join pg_rewrite r on r.ev_class = o.objid and r.rulename = '_RETURN'
    where o.kind in ('view', 'matview')
  -- What a table's column defaults, generated columns and indexes use, the table uses; a domain's constraints, the domain.
  union all select 'pg_attrdef'::regclass, ad.oid, o.key from objects o join pg_attrdef ad on ad.adrelid = o.objid where o.kind = 'table'
  union all select 'pg_class'::regclass, i.indexrelid, o.key from objects o join pg_index i on i.indrelid = o.objid where o.kind = 'table'
  union all select 'pg_constraint'::regclass, co.oid, o.key from objects o join pg_constraint co on co.contypid = o.objid where o.kind = 'domain'
  union all select 'pg_type'::regclass, c.reltype, o.key from objects o join pg_class c on c.oid = o.objid where o.kind in ('table', 'view', 'matview')
  union all select 'pg_class'::regclass, t.typrelid, o.key from objects o join pg_type t on t.oid = o.objid where o.kind = 'composite'
  union all select 'pg_type'::regclass, t.oid, o.key from objects o join pg_type t on t.typelem = o.objid and t.typcategory = 'A'
    where o.classid = 'pg_type'::regclass
)`;

// Objects, their raw names and their dependencies in one query, which computes OBJECTS once (it is most of
// the extras' time). Columns in key order, and `details` json (not jsonb, which reorders keys) built with its keys
// in order, so that the fingerprint's canonical copy (snapshot.ts) copies nothing; the names are kept apart from
// the objects, which fingerprints hash.
const OBJECTS_AND_DEPENDENCIES = `${OBJECTS}
select
  (select coalesce(json_agg(o order by o.key), '[]') from (select definition, details, key, kind, target from objects) o) as objects,
  (select coalesce(json_object_agg(o.key, json_strip_nulls(json_build_object('schema', o.name_schema, 'table', o.name_table, 'name', o.name))), '{}')
    from objects o where o.name is not null) as names,
  (select coalesce(json_agg(json_build_array(dependent, referenced, column_level) order by dependent, referenced), '[]') from (
    select distinct d.key as dependent, r.key as referenced, bool_or(pd.refobjsubid > 0) as column_level
    from pg_depend pd join aliases d on d.classid = pd.classid and d.objid = pd.objid
    join aliases r on r.classid = pd.refclassid and r.objid = pd.refobjid
    where pd.deptype in ('n', 'a') and d.key <> r.key
    group by d.key, r.key) dependency) as dependencies`;

const COLLATION_NAME = (oid: string) =>
  `(select format('%I.%I', cn.nspname, co.collname) from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = ${oid})`;

// Values as json, not jsonb, which would reorder their keys: in key order, the fingerprint's canonical copy copies nothing.
const SETTING_ROWS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1)),
rel as (select c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relreplident,
          c.relispartition, n.nspname from pg_class c join nsp n on n.oid = c.relnamespace),
-- Only the tables and columns that have a setting get their names formatted: a schema has thousands of both. Columns
-- are joined to their tables, not to rel, whose size the planner cannot see (it looked up each column's type by index).
tab as (select rel.*, 'table ' || nspname || '.' || relname as key, format('%I.%I', nspname, relname) as target from rel
        where relkind in ('r', 'p') and (relpersistence = 'u' or relrowsecurity or relforcerowsecurity or reloptions is not null or relreplident <> 'd')),
col as (select a.attname, a.atttypid, a.atttypmod, a.attcollation, a.attstorage, a.attcompression, a.attstattarget, 'table ' || n.nspname || '.' || c.relname as table_key, format('%I.%I ALTER COLUMN %I', n.nspname, c.relname, a.attname) as target,
          'column ' || n.nspname || '.' || c.relname || '.' || a.attname as key, t.typcollation, t.typstorage
        from pg_attribute a join pg_class c on c.oid = a.attrelid and c.relkind in ('r', 'p') join nsp n on n.oid = c.relnamespace
        join pg_type t on t.oid = a.atttypid
        where a.attnum > 0 and not a.attisdropped and a.attinhcount = 0
          and (a.attcollation <> t.typcollation or a.attstorage <> t.typstorage or a.attcompression <> '' or a.attstattarget >= 0))
select 'unlogged' as kind, key, key as object, key as "table", target, to_json(true) as value from tab where relpersistence = 'u'
-- drizzle-kit sees row level security of plain tables only: partitioned tables, partitions and inheritance are ours.
union all select 'row-security', key, key, key, target, to_json(true) from tab where relrowsecurity
  and (relkind = 'p' or relispartition or exists (select from pg_inherits i where i.inhrelid = tab.oid or i.inhparent = tab.oid))
union all select 'force-rls', key, key, key, target, to_json(true) from tab where relforcerowsecurity
union all select 'reloptions', key, key, key, target, to_json(reloptions) from tab where reloptions is not null
union all select 'replica-identity', key, key, key, target, to_json(case relreplident when 'f' then 'FULL' when 'n' then 'NOTHING'
    else (select format('USING INDEX %I', ic.relname) from pg_index i join pg_class ic on ic.oid = i.indexrelid where i.indrelid = tab.oid and i.indisreplident) end)
  from tab where relreplident <> 'd'
union all select 'collation', key, key, table_key, target,
    json_build_object('collation', ${COLLATION_NAME('attcollation')}, 'type', format_type(atttypid, atttypmod))
  from col where attcollation <> typcollation
union all select 'storage', key, key, table_key, target, json_build_object('default', typstorage, 'storage', attstorage)
  from col where attstorage <> typstorage
union all select 'compression', key, key, table_key, target, to_json(case attcompression when 'p' then 'pglz' else 'lz4' end) from col where attcompression <> ''
union all select 'statistics-target', key, key, table_key, target, to_json(attstattarget) from col where attstattarget >= 0
union all select 'sequence-owner', 'sequence ' || r.nspname || '.' || r.relname, 'sequence ' || r.nspname || '.' || r.relname, '', format('%I.%I', r.nspname, r.relname),
    to_json(format('%I.%I.%I', tn.nspname, t.relname, a.attname))
  from rel r join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = r.oid and d.deptype = 'a' and d.refclassid = 'pg_class'::regclass
  join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
  join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
  where r.relkind = 'S' and not exists (select from pg_attrdef ad where ad.adrelid = t.oid and ad.adnum = a.attnum
    and pg_get_expr(ad.adbin, ad.adrelid) = format('nextval(%L::regclass)', r.oid::regclass))
order by 1, 2`;

// Only objects that have a comment get their names formatted: a schema has thousands of columns and constraints, and few comments.
const DESCRIBED = (catalog: string, oid: string, subid = '0') =>
  `exists (select from pg_description d where d.classoid = '${catalog}'::regclass and d.objoid = ${oid} and d.objsubid = ${subid})`;

// Every commented object in the compared schemas, with the SQL naming it and the key of the object
// (and of its table) so that comments on recreated objects are set again.
const COMMENT_ROWS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1)),
rel as (select c.*, n.nspname, format('%I.%I', n.nspname, c.relname) as target,
          case c.relkind when 'v' then 'view' when 'm' then 'matview' when 'S' then 'sequence' when 'i' then 'index' when 'I' then 'index'
            when 'c' then 'type' else 'table' end || ' ' || n.nspname || '.' || c.relname as key
        from pg_class c join nsp n on n.oid = c.relnamespace where ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}),
targets as (
  select 'pg_class'::regclass as classid, c.oid as objid, 0 as objsubid,
    case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW' when 'S' then 'SEQUENCE' when 'i' then 'INDEX' when 'I' then 'INDEX'
      when 'f' then 'FOREIGN TABLE' when 'c' then 'TYPE' else 'TABLE' end || ' ' || c.target as target, c.key as object, null as parent
  from rel c where ${DESCRIBED('pg_class', 'c.oid')}
  union all select 'pg_class'::regclass, c.oid, a.attnum, format('COLUMN %s.%I', c.target, a.attname),
    'column ' || c.nspname || '.' || c.relname || '.' || a.attname, c.key
  from rel c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped where ${DESCRIBED('pg_class', 'c.oid', 'a.attnum')}
  union all select 'pg_proc'::regclass, p.oid, 0,
    case p.prokind when 'p' then 'PROCEDURE' when 'a' then 'AGGREGATE' else 'FUNCTION' end
      || format(' %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
    ${FUNCTION_KEY}, null
  from pg_proc p join nsp n on n.oid = p.pronamespace where ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')} and ${DESCRIBED('pg_proc', 'p.oid')}
  union all select 'pg_type'::regclass, t.oid, 0, case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end || format(' %I.%I', n.nspname, t.typname),
    'type ' || n.nspname || '.' || t.typname, null
  from pg_type t join nsp n on n.oid = t.typnamespace where t.typtype in ('d', 'e', 'c', 'r', 'm') and ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
    and ${DESCRIBED('pg_type', 't.oid')}
  union all select 'pg_constraint'::regclass, co.oid, 0,
    case when co.contypid <> 0 then format('CONSTRAINT %I ON DOMAIN %I.%I', co.conname, n.nspname, t.typname)
      else format('CONSTRAINT %I ON %s', co.conname, c.target) end,
    'constraint ' || coalesce(c.nspname || '.' || c.relname, n.nspname || '.' || t.typname) || '.' || co.conname,
    coalesce(c.key, 'type ' || n.nspname || '.' || t.typname)
  from pg_constraint co left join rel c on c.oid = co.conrelid left join pg_type t on t.oid = co.contypid
    left join pg_namespace n on n.oid = t.typnamespace
  where (c.oid is not null or n.nspname = any($1)) and ${DESCRIBED('pg_constraint', 'co.oid')}
  union all select 'pg_trigger'::regclass, tg.oid, 0, format('TRIGGER %I ON %s', tg.tgname, c.target),
    'trigger ' || c.nspname || '.' || c.relname || '.' || tg.tgname, c.key
  from pg_trigger tg join rel c on c.oid = tg.tgrelid where ${DESCRIBED('pg_trigger', 'tg.oid')}
  union all select 'pg_policy'::regclass, po.oid, 0, format('POLICY %I ON %s', po.polname, c.target),
    'policy ' || c.nspname || '.' || c.relname || '.' || po.polname, c.key
  from pg_policy po join rel c on c.oid = po.polrelid where ${DESCRIBED('pg_policy', 'po.oid')}
  union all select 'pg_rewrite'::regclass, r.oid, 0, format('RULE %I ON %s', r.rulename, c.target),
    'rule ' || c.nspname || '.' || c.relname || '.' || r.rulename, c.key
  from pg_rewrite r join rel c on c.oid = r.ev_class where r.rulename <> '_RETURN' and ${DESCRIBED('pg_rewrite', 'r.oid')}
  union all select 'pg_statistic_ext'::regclass, s.oid, 0, format('STATISTICS %I.%I', n.nspname, s.stxname),
    'statistics ' || n.nspname || '.' || s.stxname, null
  from pg_statistic_ext s join nsp n on n.oid = s.stxnamespace where ${DESCRIBED('pg_statistic_ext', 's.oid')}
  union all select 'pg_namespace'::regclass, n.oid, 0, format('SCHEMA %I', n.nspname), 'schema ' || n.nspname, null from nsp n
  union all select 'pg_extension'::regclass, e.oid, 0, format('EXTENSION %I', e.extname), 'extension ' || e.extname, null from pg_extension e
)
select t.target, t.object, t.parent, d.description as text
from pg_description d join targets t on t.classid = d.classoid and t.objid = d.objoid and t.objsubid = d.objsubid
order by 1`;

// Privileges per object and grantee, now and right after creation (acldefault); the owner's own are implied.
const GRANT_ROWS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1)),
acls as (
  select case c.relkind when 'S' then 'SEQUENCE' else 'TABLE' end || format(' %I.%I', n.nspname, c.relname) as target,
    case c.relkind when 'v' then 'view' when 'm' then 'matview' when 'S' then 'sequence' else 'table' end || ' ' || n.nspname || '.' || c.relname as object,
    null as parent, null as column_name, c.relowner as owner,
    c.relacl as acl, acldefault(case c.relkind when 'S' then 's' else 'r' end::"char", c.relowner) as initial
  -- A relation's default privileges are its owner's alone, which give no row: only relations with their own are formatted.
  from pg_class c join nsp n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and c.relacl is not null and ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
  union all select format('TABLE %I.%I', n.nspname, c.relname), 'column ' || n.nspname || '.' || c.relname || '.' || a.attname,
    case c.relkind when 'v' then 'view' when 'm' then 'matview' else 'table' end || ' ' || n.nspname || '.' || c.relname,
    format('%I', a.attname), c.relowner, a.attacl, null::aclitem[]
  from pg_attribute a join pg_class c on c.oid = a.attrelid join nsp n on n.oid = c.relnamespace
  where a.attacl is not null and a.attnum > 0 and not a.attisdropped
  union all select case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end || format(' %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
    ${FUNCTION_KEY}, null, null, p.proowner,
    coalesce(p.proacl, acldefault('f', p.proowner)), acldefault('f', p.proowner)
  from pg_proc p join nsp n on n.oid = p.pronamespace where p.prokind in ('f', 'p', 'w', 'a') and ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
  union all select format('SCHEMA %I', n.nspname), 'schema ' || n.nspname, null, null, s.nspowner, coalesce(s.nspacl, acldefault('n', s.nspowner)), acldefault('n', s.nspowner)
  from pg_namespace s join nsp n on n.oid = s.oid
  union all select case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end || format(' %I.%I', n.nspname, t.typname), 'type ' || n.nspname || '.' || t.typname,
    null, null, t.typowner, coalesce(t.typacl, acldefault('T', t.typowner)), acldefault('T', t.typowner)
  from pg_type t join nsp n on n.oid = t.typnamespace where t.typtype in ('d', 'e', 'c', 'r', 'm') and (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
    and ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
),
items as (
  select a.target, a.object, a.parent, a.column_name, x.grantee, x.privilege_type || case when x.is_grantable then '*' else '' end as privilege, 'actual' as side
  from acls a cross join aclexplode(a.acl) x where x.grantee <> a.owner
  union all
  select a.target, a.object, a.parent, a.column_name, x.grantee, x.privilege_type || case when x.is_grantable then '*' else '' end, 'initial'
  from acls a cross join aclexplode(a.initial) x where x.grantee <> a.owner
)
select target, object, parent, column_name as column, coalesce(r.rolname, 'PUBLIC') as grantee,
  coalesce(string_agg(privilege, ',' order by privilege) filter (where side = 'actual'), '') as actual,
  coalesce(string_agg(privilege, ',' order by privilege) filter (where side = 'initial'), '') as initial
from items left join pg_roles r on r.oid = items.grantee
group by target, object, parent, column_name, r.rolname order by 1, 4 nulls first, 5`;

// Partitioned tables, partitions and inheritance parents or children, with everything that makes them what they are.
const SPECIAL_TABLE_ROWS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1))
select 'table ' || n.nspname || '.' || c.relname as key, n.nspname || '.' || c.relname as "snapshotKey",
  case when c.relkind = 'p' then 'partitioned table' when c.relispartition then 'partition' else 'inheritance' end as reason,
  jsonb_build_object(
    'kind', c.relkind, 'partitionKey', case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end,
    'bound', pg_get_expr(c.relpartbound, c.oid),
    'parents', (select coalesce(jsonb_agg(p.oid::regclass::text order by i.inhseqno), '[]') from pg_inherits i join pg_class p on p.oid = i.inhparent where i.inhrelid = c.oid),
    'columns', (select jsonb_agg(jsonb_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
                  a.attcollation, a.attidentity, a.attgenerated, a.attislocal, a.attinhcount) order by a.attnum)
                from pg_attribute a left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
    'constraints', (select coalesce(jsonb_agg(jsonb_build_array(co.conname, pg_get_constraintdef(co.oid), co.conislocal) order by co.conname), '[]')
                    from pg_constraint co where co.conrelid = c.oid),
    'indexes', (select coalesce(jsonb_agg(pg_get_indexdef(i.indexrelid) order by 1), '[]') from pg_index i where i.indrelid = c.oid)
  )::text as signature
from pg_class c join nsp n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and (c.relkind = 'p' or c.relispartition
  or exists (select from pg_inherits i where i.inhrelid = c.oid or i.inhparent = c.oid))
order by 1`;

// Names Postgres gives on its own (primary keys, serial and identity sequences), which renames leave behind.
const IMPLICIT_NAME_ROWS = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1))
select 'primary key' as kind, 'table ' || n.nspname || '.' || c.relname as owner, co.conname as name
from pg_constraint co join pg_class c on c.oid = co.conrelid join nsp n on n.oid = c.relnamespace where co.contype = 'p'
union all
select 'sequence', 'column ' || n.nspname || '.' || c.relname || '.' || a.attname, sc.relname
from pg_depend d join pg_class sc on sc.oid = d.objid and sc.relkind = 'S'
join pg_class c on c.oid = d.refobjid join nsp n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum = d.refobjsubid
where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
  and (d.deptype = 'i' or exists (select from pg_attrdef ad where ad.adrelid = c.oid and ad.adnum = a.attnum
    and pg_get_expr(ad.adbin, ad.adrelid) = format('nextval(%L::regclass)', sc.oid::regclass)))
order by 1, 2`;

export async function readExtras(client: Queryable, schemas: string[]): Promise<Extras> {
  // Issued at once: a client runs them one after the other, Connections of several spread them.
  const db = Connections.of(client);
  // Each row's columns in key order, so that the fingerprint's canonical copy (snapshot.ts) need not copy it.
  const rows = <T>(sql: string, columns: string[], params: unknown[] = [schemas]) =>
    rowsAsJson<T>(db, `select ${[...columns].sort().map((column) => ident(column)).join(', ')} from (${sql}) r`, params);
  const [{ objects, names, dependencies }, settings, comments, grants, specialTables, implicitNames, clonedConstraints, roles] = await Promise.all([
    db.query(OBJECTS_AND_DEPENDENCIES, [schemas]).then(({ rows: [row] }) => row as { objects: CatalogObject[]; names: Record<string, ObjectName>; dependencies: [string, string, boolean][] }),
    rows<Setting>(SETTING_ROWS, ['kind', 'key', 'object', 'table', 'target', 'value']),
    rows<Comment>(COMMENT_ROWS, ['target', 'object', 'parent', 'text']),
    rows<Grant>(GRANT_ROWS, ['target', 'object', 'parent', 'column', 'grantee', 'actual', 'initial']),
    rows<SpecialTable>(SPECIAL_TABLE_ROWS, ['key', 'snapshotKey', 'reason', 'signature']),
    rows<ImplicitName>(IMPLICIT_NAME_ROWS, ['kind', 'owner', 'name']),
    // Postgres' own copies of a constraint on partitions and children, which drizzle-kit takes for the user's.
    rows<{ table: string; name: string }>(`select n.nspname || '.' || c.relname as table, co.conname as name from pg_constraint co
      join pg_class c on c.oid = co.conrelid join pg_namespace n on n.oid = c.relnamespace where co.conparentid <> 0 and n.nspname = any($1)
      order by 1, 2`, ['table', 'name']),
    rows<{ rolname: string }>('select rolname from pg_roles order by 1', ['rolname'], []),
  ]);
  const constraintsOutsideDrizzle: Record<string, string[]> = {};
  for (const { table, name } of clonedConstraints) (constraintsOutsideDrizzle[table] ??= []).push(name);
  for (const object of objects) {
    if (object.kind === 'constraint' && object.details.outsideDrizzle) (constraintsOutsideDrizzle[object.details.snapshotTable] ??= []).push(object.details.rawName);
  }
  return {
    objects,
    names,
    dependencies,
    settings,
    comments,
    grants,
    specialTables,
    constraintsOutsideDrizzle,
    implicitNames,
    roles: roles.map((row) => row.rolname),
  };
}
