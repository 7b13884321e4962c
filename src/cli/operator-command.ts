import { parseArgs } from 'node:util';
import { createOperator, listOperators, OPERATOR_NAME_PATTERN, revokeOperator } from '../auth/operator-credentials';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { CliError, EXIT } from './api-client';
import { printTable } from './output';

export const OPERATOR_HELP = `qanatix operator <command>

  Operator credentials open what is installation-wide and belongs to no tenant: the queue board
  (/admin/queues, user name = the operator's name, password = the token), pausing, resuming and cleaning
  queues, every tenant's jobs, and /metrics. No tenant API key carries these powers. Every command talks to
  DATABASE_URL directly: holding the database is what makes someone an operator.

  create --name <name>   prints a new token once (op_live_…); only its hash is stored
  list [--json]          active credentials (never the tokens)
  revoke <name|id>       revoke a credential; it stops working at once`;

export async function operatorCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [sub, ref] = positionals;
  if (values.help || !sub) {
    console.log(OPERATOR_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (!['create', 'list', 'revoke'].includes(sub)) throw new CliError(`unknown operator command "${sub}"\n\n${OPERATOR_HELP}`, EXIT.usage);
  if (sub === 'create' && (!values.name || !OPERATOR_NAME_PATTERN.test(values.name))) {
    throw new CliError(
      'operator create needs --name <name>: 1 to 64 letters, digits, ".", "_" or "-" (it is the board\'s login user name)',
      EXIT.usage,
    );
  }
  if (sub === 'revoke' && !ref) throw new CliError('revoke needs an operator name or id (see "qanatix operator list")', EXIT.usage);

  const config = loadConfig();
  const pool = createPool(config.databaseUrl, 1);
  try {
    await migrate(pool);
    if (sub === 'create') {
      const created = await createOperator(pool, config.apiKeySalt, values.name!).catch((err: Error) => {
        throw new CliError(err.message);
      });
      console.log(created.token);
      console.error(`operator "${created.name}" (${created.id}); store the token now, it cannot be shown again`);
    } else if (sub === 'list') {
      printTable(await listOperators(pool), ['id', 'name', 'token_prefix', 'created_at', 'last_used_at'], values.json ?? false);
    } else {
      if (!(await revokeOperator(pool, ref!)))
        throw new CliError(`no active operator named or with id "${ref}" (see "qanatix operator list")`);
      console.log(`revoked ${ref}`);
    }
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
