// The convergence check's own eyes: every user object of the compared schemas, read straight from
// pg_catalog into a canonical, OID-free form, independent of the planner's model (drizzle-kit's
// snapshot and extras.ts). Two databases with the same schema give the same catalog whatever order
// their objects were created in. Left out on purpose, because they may differ legitimately between
// environments: owners (the owner's privileges show as `(owner)` where they are not the defaults),
// grantors, tablespaces, sequence values and whether a materialized view is populated; and the objects
// that belong to an extension, which the extension and its version stand for.
import type pg from 'pg';
import { INTERNAL_SCHEMA } from '../schema/read/catalog.ts';

/** `kind name` (names quoted where SQL needs it: `column public.users.email`) → that object's properties. */
export type CatalogObjects = Record<string, Record<string, unknown>>;

type Queryable = Pick<pg.ClientBase, 'query'>;

// Rendered object definitions depend on the session: pinned while reading, so that two sessions
// (dev's and prod's, set up by different people) render the same object the same way. With only
// pg_catalog on the search path, every user name is rendered schema-qualified.
const PINNED_SETTINGS: Record<string, string> = {
  search_path: 'pg_catalog',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '1',
  standard_conforming_strings: 'on', // the queries below write backslashes in literals
};

const notExtensionMember = (catalog: string, oid: string) =>
  `not exists (select from pg_depend e where e.classid = '${catalog}'::regclass and e.objid = ${oid} and e.deptype = 'e')`;

/** Privileges as `grantee=PRIV,PRIV*` items (`*`: with grant option), sorted: those of each grantee whose
 * privileges differ from the defaults a new object gets (`defaultKind` for acldefault, or none, as for
 * columns), so that a null ACL equals its defaults written out, and servers of other versions with other
 * defaults (MAINTAIN since Postgres 17) compare equal. A grantee stripped of its defaults shows as `grantee=`. */
const privileges = (acl: string, owner: string, defaultKind: string | null) => {
  const defaults = defaultKind ? `acldefault('${defaultKind}', ${owner})` : 'null::aclitem[]';
  // A null ACL is the defaults: nothing to list, and nothing to compute (most objects have one).
  return `case when ${acl} is not null then (
  select jsonb_agg(item order by item) from (
  select case when grantee = 0 then 'PUBLIC' when grantee = ${owner} then '(owner)' else (select format('%I', rolname) from pg_roles where oid = grantee) end
      || '=' || coalesce(actual, '') as item from (
    select x.grantee, string_agg(x.privilege, ',' order by x.privilege) filter (where x.actual) as actual,
      string_agg(x.privilege, ',' order by x.privilege) filter (where not x.actual) as initial
    from (select a.grantee, a.privilege_type || case when a.is_grantable then '*' else '' end as privilege, true as actual
          from aclexplode(${acl}) a
          union select d.grantee, d.privilege_type || case when d.is_grantable then '*' else '' end, false from aclexplode(${defaults}) d) x
    group by x.grantee) privileges
  where actual is distinct from initial) items) end`;
};

const COMPARED = `
with nsp as (select oid, nspname from pg_namespace where nspname = any($1) and nspname <> '${INTERNAL_SCHEMA}'),
rel as (select c.*, n.nspname, format('%I.%I', n.nspname, c.relname) as name
        from pg_class c join nsp n on n.oid = c.relnamespace where ${notExtensionMember('pg_class', 'c.oid')})`;

const RELATION_KIND = `case relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table' end`;

// Each query gives rows of (key, properties); null properties are left out.
const QUERIES: Record<string, string> = {
  schemas: `${COMPARED}
    select format('schema %I', n.nspname) as key, jsonb_build_object(
      'privileges', ${privileges('s.nspacl', 's.nspowner', 'n')}, 'comment', obj_description(s.oid, 'pg_namespace')) as properties
    from nsp n join pg_namespace s on s.oid = n.oid`,

  // The version is compared: the planner updates extensions to dev's version.
  extensions: `${COMPARED}
    select format('extension %I', e.extname) as key, jsonb_build_object('schema', format('%I', n.nspname), 'version', e.extversion,
      'comment', obj_description(e.oid, 'pg_extension')) as properties
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace`,

  relations: `${COMPARED}
    select ${RELATION_KIND} || ' ' || c.name as key, jsonb_build_object(
      'unlogged', c.relpersistence = 'u',
      'options', (select jsonb_agg(o order by o) from unnest(c.reloptions) o),
      'row level security', c.relrowsecurity, 'forced row level security', c.relforcerowsecurity,
      'replica identity', c.relreplident,
      'access method', (select amname from pg_am where oid = c.relam),
      'partition key', case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end,
      'partition bound', pg_get_expr(c.relpartbound, c.oid),
      'parents', (select jsonb_agg(format('%I.%I', pn.nspname, p.relname) order by i.inhseqno)
                  from pg_inherits i join pg_class p on p.oid = i.inhparent join pg_namespace pn on pn.oid = p.relnamespace where i.inhrelid = c.oid),
      'columns', (select jsonb_agg(a.attname order by a.attnum) from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
      'definition', case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end,
      'privileges', ${privileges('c.relacl', 'c.relowner', 'r')}, 'comment', obj_description(c.oid, 'pg_class')) as properties
    from rel c where c.relkind in ('r', 'p', 'v', 'm', 'f')`,

  columns: `${COMPARED}
    select format('column %s.%I', c.name, a.attname) as key, jsonb_build_object(
      'type', format_type(a.atttypid, a.atttypmod), 'not null', a.attnotnull,
      -- A number written as a string cast to numeric ('0'::numeric, as drizzle-kit writes it) is the same default as the bare number.
      'default', case when a.attgenerated = '' then regexp_replace(pg_get_expr(d.adbin, d.adrelid), '^''(-?[0-9]+(\\.[0-9]+)?)''::numeric$', '\\1') end,
      'generated', case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end,
      'identity', nullif(a.attidentity, ''),
      'collation', case when co.oid is not null then format('%I.%I', cn.nspname, co.collname) end,
      'storage', a.attstorage, 'compression', nullif(to_jsonb(a) ->> 'attcompression', ''),
      -- -1 (before Postgres 17) and null (from 17) both mean the default statistics target
      'statistics target', nullif(to_jsonb(a) ->> 'attstattarget', '-1'),
      'inherited only', case when not a.attislocal then true end,
      'privileges', ${privileges('a.attacl', 'c.relowner', null)}, 'comment', ds.description) as properties
    from rel c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    left join pg_collation co on co.oid = a.attcollation left join pg_namespace cn on cn.oid = co.collnamespace
    left join pg_description ds on ds.classoid = 'pg_class'::regclass and ds.objoid = c.oid and ds.objsubid = a.attnum
    where c.relkind in ('r', 'p', 'v', 'm', 'f')`,

  constraints: `${COMPARED}
    select case when c.oid is not null then format('constraint %s.%I', c.name, co.conname) else format('constraint %I.%I.%I', n.nspname, t.typname, co.conname) end as key,
      jsonb_build_object('definition', pg_get_constraintdef(co.oid), 'inherited only', case when not co.conislocal then true end,
        'comment', obj_description(co.oid, 'pg_constraint')) as properties
    from pg_constraint co left join rel c on c.oid = co.conrelid
    left join pg_type t on t.oid = co.contypid left join nsp n on n.oid = t.typnamespace
    where c.oid is not null or n.oid is not null`,

  indexes: `${COMPARED}
    select format('index %I.%I', c.nspname, ic.relname) as key, jsonb_build_object(
      'definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid, 'clustered', i.indisclustered, 'replica identity', i.indisreplident,
      'attached to', (select format('%I.%I', pn.nspname, p.relname) from pg_inherits h join pg_class p on p.oid = h.inhparent
                      join pg_namespace pn on pn.oid = p.relnamespace where h.inhrelid = i.indexrelid),
      'comment', obj_description(i.indexrelid, 'pg_class')) as properties
    from pg_index i join pg_class ic on ic.oid = i.indexrelid join rel c on c.oid = i.indrelid`,

  sequences: `${COMPARED}
    select 'sequence ' || c.name as key, jsonb_build_object(
      'type', format_type(s.seqtypid, null), 'start', s.seqstart::text, 'increment', s.seqincrement::text, 'min', s.seqmin::text,
      'max', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle,
      'owned by', (select format('%I.%I.%I', tn.nspname, t.relname, a.attname) || case when d.deptype = 'i' then ' (identity)' else '' end
                   from pg_depend d join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
                   join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
                   where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')),
      'privileges', ${privileges('c.relacl', 'c.relowner', 's')}, 'comment', obj_description(c.oid, 'pg_class')) as properties
    from rel c join pg_sequence s on s.seqrelid = c.oid`,

  types: `${COMPARED}
    select format('type %I.%I', n.nspname, t.typname) as key, jsonb_build_object(
      'kind', case t.typtype when 'e' then 'enum' when 'd' then 'domain' when 'c' then 'composite' when 'r' then 'range' end,
      'labels', case when t.typtype = 'e' then (select jsonb_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) end,
      'base type', case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod) end,
      'not null', case when t.typtype = 'd' then t.typnotnull end,
      'default', pg_get_expr(t.typdefaultbin, 0),
      'attributes', case when t.typtype = 'c' then (
        select jsonb_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
          || coalesce((select format(' COLLATE %I.%I', cn.nspname, co.collname) from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace
                       where co.oid = a.attcollation), '') order by a.attnum)
        from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) end,
      'subtype', (select concat_ws(' ', format_type(r.rngsubtype, null), 'ordered by ' || (select format('%I.%I', ocn.nspname, oc.opcname) from pg_opclass oc
                    join pg_namespace ocn on ocn.oid = oc.opcnamespace where oc.oid = r.rngsubopc), 'collation ' || nullif(r.rngcollation, 0)::regcollation::text,
                    'canonical ' || nullif(r.rngcanonical::oid, 0)::regprocedure::text, 'difference ' || nullif(r.rngsubdiff::oid, 0)::regprocedure::text)
                  from pg_range r where r.rngtypid = t.oid),
      'collation', (select format('%I.%I', cn.nspname, co.collname) from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = t.typcollation),
      'privileges', ${privileges('t.typacl', 't.typowner', 'T')}, 'comment', obj_description(t.oid, 'pg_type')) as properties
    from pg_type t join nsp n on n.oid = t.typnamespace
    where (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))
      and ${notExtensionMember('pg_type', 't.oid')}`,

  routines: `${COMPARED}
    select case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end
        || format(' %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as key, jsonb_build_object(
      'definition', case when p.prokind <> 'a' then pg_get_functiondef(p.oid) end,
      'aggregate', (select concat_ws(' ', 'returns ' || pg_get_function_result(p.oid), 'kind ' || a.aggkind::text, 'state ' || a.aggtranstype::regtype::text,
                      'with ' || a.aggtransfn::regprocedure::text, 'final ' || nullif(a.aggfinalfn::oid, 0)::regprocedure::text,
                      'combine ' || nullif(a.aggcombinefn::oid, 0)::regprocedure::text, 'initially ' || a.agginitval, 'sort ' || nullif(a.aggsortop, 0)::regoperator::text)
                    from pg_aggregate a where a.aggfnoid = p.oid),
      'privileges', ${privileges('p.proacl', 'p.proowner', 'f')}, 'comment', obj_description(p.oid, 'pg_proc')) as properties
    from pg_proc p join nsp n on n.oid = p.pronamespace where ${notExtensionMember('pg_proc', 'p.oid')}
      -- a range type's constructors come and go with it
      and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'i')`,

  triggers: `${COMPARED}
    select format('trigger %s.%I', c.name, tg.tgname) as key, jsonb_build_object(
      'definition', pg_get_triggerdef(tg.oid), 'enabled', tg.tgenabled, 'comment', obj_description(tg.oid, 'pg_trigger')) as properties
    from pg_trigger tg join rel c on c.oid = tg.tgrelid where not tg.tgisinternal`,

  policies: `${COMPARED}
    select format('policy %s.%I', c.name, po.polname) as key, jsonb_build_object(
      'permissive', po.polpermissive,
      'command', case po.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
      'roles', (select jsonb_agg(role order by role) from (
                  select case when r = 0 then 'PUBLIC' else (select format('%I', rolname) from pg_roles where oid = r) end as role from unnest(po.polroles) r) roles),
      'using', pg_get_expr(po.polqual, po.polrelid), 'with check', pg_get_expr(po.polwithcheck, po.polrelid),
      'comment', obj_description(po.oid, 'pg_policy')) as properties
    from pg_policy po join rel c on c.oid = po.polrelid`,

  rules: `${COMPARED}
    select format('rule %s.%I', c.name, r.rulename) as key, jsonb_build_object(
      'definition', pg_get_ruledef(r.oid), 'enabled', r.ev_enabled, 'comment', obj_description(r.oid, 'pg_rewrite')) as properties
    from pg_rewrite r join rel c on c.oid = r.ev_class where r.rulename <> '_RETURN'`,

  statistics: `${COMPARED}
    select format('statistics %I.%I', n.nspname, s.stxname) as key, jsonb_build_object(
      'definition', pg_get_statisticsobjdef(s.oid), 'target', nullif(to_jsonb(s) ->> 'stxstattarget', '-1'),
      'comment', obj_description(s.oid, 'pg_statistic_ext')) as properties
    from pg_statistic_ext s join nsp n on n.oid = s.stxnamespace`,

  collations: `${COMPARED}
    select format('collation %I.%I', n.nspname, co.collname) as key, jsonb_build_object(
      'provider', co.collprovider, 'collate', co.collcollate, 'ctype', co.collctype, 'deterministic', co.collisdeterministic,
      -- the ICU locale is colliculocale in Postgres 15-16 and colllocale from 17
      'locale', coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale'),
      'comment', obj_description(co.oid, 'pg_collation')) as properties
    from pg_collation co join nsp n on n.oid = co.collnamespace where ${notExtensionMember('pg_collation', 'co.oid')}`,

  defaultPrivileges: `${COMPARED}
    select format('default privileges of %I', r.rolname) || coalesce(format(' in schema %I', n.nspname), '')
        || ' on ' || case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions' when 'T' then 'types' else 'schemas' end as key,
      jsonb_build_object('privileges', ${privileges('d.defaclacl', 'd.defaclrole', null)}) as properties
    from pg_default_acl d join pg_roles r on r.oid = d.defaclrole left join nsp n on n.oid = d.defaclnamespace
    where d.defaclnamespace = 0 or n.oid is not null`,
};

/** Reads every user object of `schemas` (pgpromote's own schema aside) and the database's extensions. */
export async function readCatalogObjects(client: Queryable, schemas: string[]): Promise<CatalogObjects> {
  const names = Object.keys(PINNED_SETTINGS);
  const { rows: [saved] } = await client.query(`select ${names.map((name, index) => `current_setting('${name}') as "${index}"`).join(', ')}`);
  const setAll = (values: string[]) =>
    client.query(`select ${names.map((name, index) => `set_config('${name}', $${index + 1}, false)`).join(', ')}`, values);
  await setAll(Object.values(PINNED_SETTINGS));
  const objects: CatalogObjects = {};
  try {
    for (const sql of Object.values(QUERIES)) {
      for (const { key, properties } of (await client.query(sql, [schemas])).rows) objects[key] = withoutNulls(properties);
    }
  } finally {
    // Inside a transaction that a failed query aborted, the settings roll back with it.
    await setAll(names.map((_, index) => saved[index])).catch(() => {});
  }
  return Object.fromEntries(Object.keys(objects).sort().map((key) => [key, objects[key]!]));
}

function withoutNulls(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(properties).sort().filter((name) => properties[name] !== null).map((name) => [name, properties[name]]));
}
