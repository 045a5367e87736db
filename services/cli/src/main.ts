import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { Command, CommanderError } from 'commander';
import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';

import { loadConfig } from '../../platform/src/config';
import type { PlatformConfig } from '../../platform/src/config';
import { databasePool, operatorPoolOptions, withDatabasePool } from '../../platform/src/db/database-pool';
import { PaystreamError, toPaystreamError } from '../../platform/src/errors';
import { readDeadLetters } from '../../platform/src/events/dead-letter-reader';
import { redriveDeadLetters } from '../../platform/src/events/dead-letter-redrive';
import { EventSchemas } from '../../platform/src/events/event-schemas';
import { createKafka } from '../../platform/src/events/kafka-client';
import { createLogger } from '../../platform/src/logger';
import type { Logger } from '../../platform/src/logger';
import { defaultSchemasDir, SchemaCatalogue } from '../../platform/src/schemas/schema-catalogue';
import { generateTypes } from '../../platform/src/schemas/typescript-codegen';
import { runService } from '../../platform/src/service/run-service';
import { deadLetterJsonLines, deadLetterReport, pendingText, redriveReport } from './dead-letter-report';
import { ledgerCheckReport } from './ledger-check-report';
import { checkLedgerReadModel, readModelHolds } from '../../ledger/src/adapters/read-model-check';
import { runDemo } from './demo';
import type { DemoOrganization } from './demo';
import { SERVICES } from './service-catalogue';
import { createTopics, planTopics } from '../../platform/src/topics/topic-admin';
import {
  assertGroupInactive,
  parseReplayTarget,
  resetGroupOffsets,
  waitForCatchUp,
} from '../../platform/src/topics/consumer-group-admin';
import { migrate } from '../../../connectors/postgres-sink/src/adapters/migrations';
import { CopySink } from '../../../connectors/postgres-sink/src/app/copy-sink';
import { mappingsFor } from '../../../connectors/postgres-sink/src/app/sink-mappings';
import { sinkGroupId } from '../../../connectors/postgres-sink/src/app/sink-service';
import { Directory } from '../../gateway/src/adapters/directory';
import { LedgerClient } from '../../gateway/src/adapters/ledger-client';
import { LoginThrottle } from '../../gateway/src/adapters/redis-state';
import {
  fundOrganization,
  gatewayRedisPrefix,
  provisionOrganization,
  rotateOrganizationKey,
} from '../../gateway/src/app/gateway';
import { ibanFromBban } from '../../gateway/src/domain/bank-identifiers';
import { parseEmail } from '../../gateway/src/domain/requests';
import { EventProducer } from '../../platform/src/events/event-producer';
import { SERVICE_NODE_FLAGS } from '../../platform/src/service/node-flags';
import { listScrapeTargets, scrapeTargetsDir, targetProcessRuns } from '../../platform/src/service/scrape-targets';
import { localStateDir } from '../../platform/src/service/state-dir';

/**
 * `paystream`: one command for operators. Exit codes: 0 done, 1 failed (the message says why), 2 usage error.
 * Configuration comes from the environment (see .env.example) and is validated before any command runs.
 */
const ROOT = path.resolve(defaultSchemasDir(), '..');
const GENERATED_TYPES = path.join(ROOT, 'services/platform/src/sdk/event-types.generated.ts');

function context(): { config: PlatformConfig; logger: Logger } {
  const config = loadConfig(process.env);
  // CLI output goes to stderr as JSON only for warnings and errors; results are printed as plain lines on stdout.
  const logger = createLogger({ level: config.logLevel === 'debug' ? 'debug' : 'warn', stream: process.stderr });
  return { config, logger };
}

function stack(action: 'up' | 'down' | 'status'): number {
  const r = spawnSync('bash', [path.join(ROOT, 'infra/stack.sh'), action], { stdio: 'inherit' });
  return r.status ?? 1;
}

async function topicsCreate(prefix: string | undefined): Promise<void> {
  const { config, logger } = context();
  const kafka = createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-cli`, logger });
  const catalogue = SchemaCatalogue.load();
  const { created, existing } = await createTopics(
    kafka,
    planTopics(catalogue.topics, prefix ?? config.kafka.topicPrefix),
  );
  for (const t of created) console.log(`created  ${t}`);
  for (const t of existing) console.log(`exists   ${t}`);
  console.log(`${created.length} created, ${existing.length} already existed`);
}

async function schemasRegister(prefix: string | undefined, dir: string | undefined): Promise<void> {
  const { config } = context();
  const catalogue = SchemaCatalogue.load(dir ?? defaultSchemasDir());
  const schemas = EventSchemas.connect(config.schemaRegistry.url, catalogue, prefix ?? config.kafka.topicPrefix);
  for (const topic of catalogue.topics) {
    const { subject, id } = await schemas.register(topic);
    console.log(`registered ${subject} -> id ${id} (BACKWARD)`);
  }
}

function schemasCodegen(check: boolean): void {
  const text = generateTypes(SchemaCatalogue.load());
  const current = (() => {
    try {
      return readFileSync(GENERATED_TYPES, 'utf8');
    } catch {
      return '';
    }
  })();
  if (check) {
    if (current !== text) {
      throw new PaystreamError(
        'VALIDATION_FAILED',
        `${path.relative(ROOT, GENERATED_TYPES)} is stale: run paystream schemas codegen`,
      );
    }
    console.log('generated types are up to date');
    return;
  }
  writeFileSync(GENERATED_TYPES, text);
  console.log(`wrote ${path.relative(ROOT, GENERATED_TYPES)}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes untyped action arguments
function wrap<A extends any[]>(action: (...args: A) => Promise<void> | void) {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      const e = toPaystreamError(err);
      console.error(`paystream: ${e.code}: ${e.message}`);
      process.exitCode = 1;
    }
  };
}

/**
 * The catalogue topic `given` names for `dlq`'s `--topic`: its catalogue name, or the physical name alerts and dead
 * letters' headers show (with PAYSTREAM_TOPIC_PREFIX), or either's dead-letter topic (`<topic>.dlq`). A name that is
 * none of them is returned as given, for the catalogue to refuse by name.
 */
export function catalogueTopicNamed(schemas: Pick<EventSchemas, 'catalogue' | 'logicalTopic'>, given: string): string {
  const source = given.endsWith('.dlq') ? given.slice(0, -'.dlq'.length) : given;
  const known = (name: string | undefined) =>
    name !== undefined && schemas.catalogue.topics.some((t) => t.name === name);
  return [given, source, schemas.logicalTopic(source)].find(known) ?? given;
}

/** `dlq`'s `--limit`: how many dead letters to show or take, 1 to 999999. */
function letterLimit(value: string): number {
  if (!/^[1-9]\d{0,5}$/.test(value))
    throw new PaystreamError('VALIDATION_FAILED', '--limit: a whole number from 1 to 999999');
  return Number(value);
}

/** `org`'s amounts (`--deposit`, `--amount`): whole minor units, from `min` up to 18 digits (what a bigint holds). */
function minorUnits(flag: string, value: string, min: 0n | 1n): bigint {
  if (!/^\d{1,18}$/.test(value) || BigInt(value) < min)
    throw new PaystreamError(
      'VALIDATION_FAILED',
      `${flag}: a whole number of minor units from ${min} to 999999999999999999 (at most 18 digits)`,
    );
  return BigInt(value);
}

/** A Kafka client named for the command (`<client id>-<role>`) and the catalogue's schemas on the registry. */
function kafkaAndSchemas(config: PlatformConfig, logger: Logger, role: string) {
  const clientId = `${config.kafka.clientId}-${role}`;
  return {
    clientId,
    kafka: createKafka({ brokers: config.kafka.brokers, clientId, logger }),
    schemas: EventSchemas.connect(config.schemaRegistry.url, SchemaCatalogue.load(), config.kafka.topicPrefix),
  };
}

/**
 * An operator's command that asks the ledger and waits for its answer (`org create`, `org fund`): a Kafka client, the
 * schemas, a small database pool and a started request/reply client, all closed when `fn` ends.
 */
async function withLedgerClient<T>(
  config: PlatformConfig,
  logger: Logger,
  fn: (deps: { kafka: Kafka; schemas: EventSchemas; pool: Pool; ledger: LedgerClient }) => Promise<T>,
): Promise<T> {
  const { kafka, schemas } = kafkaAndSchemas(config, logger, 'org');
  const pool = databasePool(operatorPoolOptions(config.database, logger, 2));
  const ledger = new LedgerClient({
    kafka,
    schemas,
    logger,
    metrics: new Registry(),
    topicPrefix: config.kafka.topicPrefix,
  });
  try {
    await ledger.start();
    return await fn({ kafka, schemas, pool, ledger });
  } finally {
    await ledger.stop();
    await pool.end();
  }
}

/**
 * The demo scenario (see `runDemo`) against the gateway at `gateway`, under a run id of its own; its organization is
 * provisioned as `paystream org create` does, with a fresh IBAN, so the demo can run again on the same platform.
 */
async function demo(config: PlatformConfig, logger: Logger, gateway: string, signal?: AbortSignal): Promise<void> {
  const runId = randomBytes(4).toString('hex');
  await runDemo({
    gateway,
    runId,
    print: (line) => console.log(line),
    signal,
    organization: async (): Promise<DemoOrganization> => {
      const org = {
        name: `Demo Corp ${runId}`,
        iban: ibanFromBban('DE', `10000000${String(randomInt(1e10)).padStart(10, '0')}`),
        bic: 'DEMODEFF',
      };
      const created = await createOrganization(config, logger, { ...org, depositMinor: 7_777_777n });
      return { ...org, apiKey: created.apiKey, balanceMinor: created.balanceMinor };
    },
  });
}

/**
 * `paystream org create` (and the demo's organization): migrations first (an operator may provision before any sink
 * ran), then the organization's ledger account, its opening deposit and its directory row, in the platform's currency.
 */
async function createOrganization(
  config: PlatformConfig,
  logger: Logger,
  org: { name: string; iban: string; bic: string; depositMinor: bigint },
): ReturnType<typeof provisionOrganization> {
  return withLedgerClient(config, logger, async ({ kafka, schemas, pool, ledger }) => {
    const events = new EventProducer({ kafka, schemas, logger });
    try {
      await migrate(pool);
      return await provisionOrganization(
        { directory: new Directory(pool), ledger, events },
        { ...org, currency: config.gateway.currency },
      );
    } finally {
      await events.disconnect();
    }
  });
}

/** Whether nobody has signed up on this platform yet: `paystream start` then runs the demo once. */
async function platformIsFresh(config: PlatformConfig, logger: Logger): Promise<boolean> {
  return withDatabasePool(operatorPoolOptions(config.database, logger, 1), async (pool) => {
    const r = await pool.query<{ taken: boolean }>('select exists (select 1 from gateway_credentials) as taken');
    return r.rows[0]?.taken === false;
  });
}

export function buildProgram(): Command {
  const program = new Command('paystream')
    .description('paystream: payments as a stream-processing pipeline on Apache Kafka')
    .showHelpAfterError()
    .exitOverride();

  const stackCmd = program.command('stack').description('the local stack without Docker (Kafka, registry, Prometheus)');
  for (const action of ['up', 'down', 'status'] as const) {
    stackCmd
      .command(action)
      .description(
        {
          up: 'install what is missing and start every component',
          down: 'stop what `up` started',
          status: 'health of every component',
        }[action],
      )
      .action(() => {
        process.exitCode = stack(action);
      });
  }

  const topics = program.command('topics').description('the topic catalogue (schemas/topics.json)');
  topics
    .command('create')
    .description('create every catalogue topic and its dead-letter topic (idempotent)')
    .option('--prefix <prefix>', 'prefix for every topic name (default PAYSTREAM_TOPIC_PREFIX)')
    .action(wrap((opts: { prefix?: string }) => topicsCreate(opts.prefix)));
  topics
    .command('list')
    .description('print the catalogue')
    .action(
      wrap(() => {
        for (const t of SchemaCatalogue.load().topics) {
          console.log(
            `${t.name}\tpartitions=${t.partitions}\tcleanup=${t.cleanupPolicy}\tretention.ms=${t.retentionMs}\tkey=${t.key}\tvalue=${t.value}${t.dlq ? '\t+dlq' : ''}`,
          );
        }
      }),
    );

  const schemas = program.command('schemas').description('Avro schemas (schemas/<domain>/<event>.avsc)');
  schemas
    .command('register')
    .description('register every topic value schema under <topic>-value with BACKWARD compatibility (idempotent)')
    .option('--prefix <prefix>', 'prefix for every topic and subject (default PAYSTREAM_TOPIC_PREFIX)')
    .option('--dir <dir>', 'schemas folder (default: the repository schemas/)')
    .action(wrap((opts: { prefix?: string; dir?: string }) => schemasRegister(opts.prefix, opts.dir)));
  schemas
    .command('codegen')
    .description('write the TypeScript types of every schema (services/platform/src/sdk/event-types.generated.ts)')
    .option('--check', 'fail if the checked-in file is stale instead of writing it')
    .action(wrap((opts: { check?: boolean }) => schemasCodegen(opts.check === true)));

  const db = program.command('db').description('Postgres read models');
  db.command('migrate')
    .description('apply pending migrations (connectors/postgres-sink/migrations), each once, in order')
    .action(
      wrap(async () => {
        const { config, logger } = context();
        const report = await withDatabasePool(operatorPoolOptions(config.database, logger, 1), migrate);
        for (const f of report.applied) console.log(`applied  ${f}`);
        console.log(`${report.applied.length} applied, ${report.skipped.length} already applied`);
      }),
    );
  db.command('rebuild')
    .description(
      "truncate a domain's read-model tables, replay its topics from earliest into them, wait until caught up",
    )
    .requiredOption(
      '--domain <domain>',
      'the domain whose mappings to rebuild (connectors/postgres-sink/mappings/<domain>.json)',
    )
    .action(
      wrap(async (opts: { domain: string }) => {
        const { config, logger } = context();
        const mappings = mappingsFor(opts.domain);
        const { kafka, schemas } = kafkaAndSchemas(config, logger, 'rebuild');
        const groupId = sinkGroupId(config.kafka.topicPrefix);
        await assertGroupInactive(kafka, groupId);
        const pool = databasePool(operatorPoolOptions(config.database, logger, 6));
        try {
          await migrate(pool);
          const tables = [...new Set(mappings.map((m) => m.table))];
          await pool.query(`truncate ${tables.map((t) => `"${t}"`).join(', ')}`);
          console.log(`truncated ${tables.join(', ')}`);
          const topics = [...new Set(mappings.map((m) => schemas.physicalTopic(m.topic)))];
          await resetGroupOffsets(kafka, groupId, { earliest: true }, topics);
          const sink = new CopySink({ kafka, schemas, pool, logger, metrics: new Registry(), mappings, groupId });
          await sink.start();
          try {
            await waitForCatchUp(kafka, groupId, topics, process.stderr);
          } finally {
            await sink.stop();
          }
        } finally {
          await pool.end();
        }
      }),
    );

  program
    .command('replay')
    .description("reset a consumer group's offsets (to earliest or a time) and show its lag going to zero once it runs")
    .requiredOption('--group <group>', 'consumer group id (e.g. paystream.sink)')
    .requiredOption('--to <target>', '"earliest" or an ISO time such as 2026-11-24T10:00:00Z')
    .option('--topic <topic...>', 'physical topic name(s); default: every topic the group has offsets for')
    .option('--no-wait', 'reset and exit without waiting for the group to catch up')
    .action(
      wrap(async (opts: { group: string; to: string; topic?: string[]; wait: boolean }) => {
        const { config, logger } = context();
        const target = parseReplayTarget(opts.to);
        const kafka = createKafka({
          brokers: config.kafka.brokers,
          clientId: `${config.kafka.clientId}-replay`,
          logger,
        });
        const reset = await resetGroupOffsets(kafka, opts.group, target, opts.topic);
        for (const t of reset) {
          console.log(
            `reset ${opts.group} on ${t.topic}: ${t.partitions.map((p) => `${p.partition}@${p.offset}`).join(' ')}`,
          );
        }
        if (opts.wait)
          await waitForCatchUp(
            kafka,
            opts.group,
            reset.map((t) => t.topic),
            process.stderr,
          );
      }),
    );

  const dlq = program.command('dlq').description('dead-letter topics: what was set aside, and why');
  dlq
    .command('list')
    .description(
      "print a topic's dead letters (<topic>.dlq) with their error and source offset, values decoded where they can " +
        'be; reads without a committed position, so it changes nothing',
    )
    .requiredOption(
      '--topic <topic>',
      'topic whose dead letters to list (e.g. ledger.results; its physical name, with the topic prefix, as alerts show it, or its .dlq too)',
    )
    .option('--limit <n>', 'show the last n', '20')
    .option('--json', 'one JSON object per line instead of text')
    .action(
      wrap(async (opts: { topic: string; limit: string; json?: boolean }) => {
        const keep = letterLimit(opts.limit);
        const { config, logger } = context();
        const { clientId, kafka, schemas } = kafkaAndSchemas(config, logger, 'dlq');
        const topic = catalogueTopicNamed(schemas, opts.topic);
        const letters = await readDeadLetters(kafka, schemas, topic, { clientId, keep });
        const lines = opts.json ? deadLetterJsonLines(letters) : deadLetterReport(letters);
        for (const line of lines) console.log(line);
        if (opts.json) for (const p of letters.pending) console.error(`paystream: ${pendingText(p)}`);
        if (letters.unfinished.length > 0) {
          if (opts.json) console.error(`paystream: partitions ${letters.unfinished.join(', ')} not read to their end`);
          process.exitCode = 1;
        }
      }),
    );

  dlq
    .command('redrive')
    .description(
      "write a topic's dead letters back to it (<topic>.dlq → <topic>) once what set them aside is fixed: each letter " +
        'once (the offsets of the group paystream.dlq-redrive.<dlq> mark how far, committed in the same transaction as ' +
        'the records), to the partition it came from; consumers deduplicate what they had taken; compacted topics refused',
    )
    .requiredOption(
      '--topic <topic>',
      'topic whose dead letters to write back (e.g. bulk.credit-transfers; its physical name or its .dlq too)',
    )
    .option('--limit <n>', 'redrive at most n letters, the oldest first per partition')
    .option('--partition <p>', 'redrive the letters of this dead-letter partition only')
    .option(
      '--through <offset>',
      'redrive the letters up to this offset only (as dlq list shows it; in --partition, where the topic has several)',
    )
    .option('--dry-run', 'count what would be redriven; write and commit nothing')
    .action(
      wrap(async (opts: { topic: string; limit?: string; partition?: string; through?: string; dryRun?: boolean }) => {
        const limit = opts.limit === undefined ? undefined : letterLimit(opts.limit);
        if (opts.partition !== undefined && !/^(0|[1-9]\d{0,4})$/.test(opts.partition))
          throw new PaystreamError('VALIDATION_FAILED', '--partition: a partition number from 0 to 99999');
        if (opts.through !== undefined && !/^(0|[1-9]\d{0,17})$/.test(opts.through))
          throw new PaystreamError('VALIDATION_FAILED', '--through: an offset, a whole number from 0');
        const { config, logger } = context();
        const { clientId, kafka, schemas } = kafkaAndSchemas(config, logger, 'dlq');
        const redrive = await redriveDeadLetters(kafka, schemas, catalogueTopicNamed(schemas, opts.topic), {
          clientId,
          dryRun: opts.dryRun ?? false,
          ...(limit !== undefined ? { limit } : {}),
          ...(opts.partition !== undefined ? { partition: Number(opts.partition) } : {}),
          ...(opts.through !== undefined ? { through: BigInt(opts.through) } : {}),
        });
        for (const line of redriveReport(redrive)) console.log(line);
        if (redrive.unfinished.length > 0) process.exitCode = 1;
      }),
    );

  const org = program.command('org').description('organizations sending bulk transfers (seed 003)');
  org
    .command('create')
    .description(
      'open an organization account in the ledger (the ledger service must be running), record its IBAN/BIC and print its API key once',
    )
    .requiredOption('--name <name>', 'organization name')
    .requiredOption('--iban <iban>', 'the account IBAN bulk transfers are sent from')
    .requiredOption('--bic <bic>', 'the account BIC')
    .option('--deposit <minor>', 'opening balance in minor units (cents)', '0')
    .action(
      wrap(async (opts: { name: string; iban: string; bic: string; deposit: string }) => {
        const { config, logger } = context();
        const depositMinor = minorUnits('--deposit', opts.deposit, 0n);
        const created = await createOrganization(config, logger, {
          name: opts.name,
          iban: opts.iban,
          bic: opts.bic,
          depositMinor,
        });
        console.log(`organization ${created.organizationId}`);
        console.log(`ledger account ${created.accountId}, balance ${created.balanceMinor} minor units`);
        console.log(`API key (shown once; send as "Authorization: Token <key>"): ${created.apiKey}`);
      }),
    );

  org
    .command('fund')
    .description(
      "credit an organization's account with money that reached it outside the platform (the ledger service must be running); the same --id funds once",
    )
    .requiredOption('--iban <iban>', "the organization's account IBAN")
    .requiredOption('--amount <minor>', 'amount in minor units (cents)')
    .requiredOption('--reference <text>', 'what the money is (a bank statement line, say)')
    .requiredOption(
      '--id <id>',
      'your id for this funding (1–100 of A-Z a-z 0-9 . _ : -): running it again funds nothing; with another amount or reference it is refused',
    )
    .action(
      wrap(async (opts: { iban: string; amount: string; reference: string; id: string }) => {
        const { config, logger } = context();
        const amountMinor = minorUnits('--amount', opts.amount, 1n);
        await withLedgerClient(config, logger, async ({ pool, ledger }) => {
          const funded = await fundOrganization(
            { directory: new Directory(pool), ledger },
            { iban: opts.iban, amountMinor, reference: opts.reference, fundingId: opts.id },
            { ledgerDedupWindowMs: config.ledger.dedupWindowMs },
          );
          console.log(
            funded.repeated
              ? `funding ${opts.id} was applied before: nothing was applied now; the balance after it was ` +
                  `${funded.balanceMinor} minor units (ledger account ${funded.accountId})`
              : `organization ${funded.organizationId} funded with ${opts.amount} minor units; ledger account ` +
                  `${funded.accountId}, balance ${funded.balanceMinor} minor units`,
          );
        });
      }),
    );

  org
    .command('rotate-key')
    .description(
      'give an organization a new API key, printed once; its old key is refused from the next request on (for a key that leaked, or routine rotation)',
    )
    .requiredOption('--iban <iban>', "the organization's account IBAN")
    .action(
      wrap(async (opts: { iban: string }) => {
        const { config, logger } = context();
        const rotated = await withDatabasePool(operatorPoolOptions(config.database, logger, 1), (pool) =>
          rotateOrganizationKey({ directory: new Directory(pool) }, opts.iban),
        );
        console.log(`organization ${rotated.organizationId}: its old API key is refused from now on`);
        console.log(`API key (shown once; send as "Authorization: Token <key>"): ${rotated.apiKey}`);
      }),
    );

  const ledgerCmd = program.command('ledger').description("the ledger's read model (Postgres)");
  ledgerCmd
    .command('check')
    .description(
      "check the ledger's guarantees in its read model, in one snapshot: postings sum to zero, accounts' entries sum " +
        'to their balance, the balances table agrees, no balance negative where not allowed (exit 1 on a finding)',
    )
    .action(
      wrap(async () => {
        const { config, logger } = context();
        const check = await withDatabasePool(operatorPoolOptions(config.database, logger, 1), checkLedgerReadModel);
        for (const line of ledgerCheckReport(check)) console.log(line);
        if (!readModelHolds(check)) process.exitCode = 1;
      }),
    );

  const login = program.command('login').description('failed-login locks the gateways keep (Redis)');
  login
    .command('unlock')
    .description("lift the failed-login locks on an e-mail: its own count and every address's")
    .requiredOption('--email <email>', 'the account e-mail (any letter case)')
    .action(
      wrap(async (opts: { email: string }) => {
        const { config } = context();
        const email = parseEmail(opts.email, '--email');
        const redis = new Redis(config.redis.url, {
          maxRetriesPerRequest: 2,
          commandTimeout: config.redis.commandTimeoutMs,
          lazyConnect: true,
        });
        try {
          await redis.connect();
          const gw = config.gateway;
          const throttle = new LoginThrottle(redis, gatewayRedisPrefix(config), {
            maxPerAddress: gw.loginMaxFailures,
            maxPerEmail: gw.loginMaxFailuresPerEmail,
            windowSeconds: gw.loginLockSeconds,
          });
          const lifted = await throttle.lift(email);
          console.log(`${email}: ${lifted} failed-login count(s) removed; its logins are no longer refused`);
        } finally {
          redis.disconnect();
        }
      }),
    );

  program
    .command('run')
    .description(`run one service in the foreground (${SERVICES.map((s) => s.name).join(', ')})`)
    .argument('<service>', 'service name')
    .argument('[args...]', 'service arguments')
    .allowUnknownOption()
    .action(
      wrap(async (name: string, args: string[]) => {
        const definition = SERVICES.find((s) => s.name === name);
        if (!definition) {
          throw new PaystreamError(
            'VALIDATION_FAILED',
            `unknown service ${name}; known: ${SERVICES.map((s) => s.name).join(', ')}`,
          );
        }
        const config = loadConfig(process.env);
        const logger = createLogger({ level: config.logLevel });
        // With the local stack running, its Prometheus discovers the service through a target file.
        const targets = scrapeTargetsDir(config.stateDir);
        const code = await runService(definition, config, logger, args, {
          ...(existsSync(targets) ? { prometheusTargetsDir: targets } : {}),
        });
        // The graceful stop had its time (PAYSTREAM_SHUTDOWN_TIMEOUT_MS): a connection a client library failed to
        // close must not keep a stopped service alive.
        process.exit(code);
      }),
    );

  program
    .command('start')
    .description(
      'bring up the stack, create topics, register schemas, apply migrations, then run the ledger, the sink and the gateway in the foreground until Ctrl-C (and the demo once, on a platform where nobody has signed up yet)',
    )
    .option('--stack-only', 'stop after the stack, topics and schemas are ready')
    .option('--no-demo', 'do not run the demo scenario, even on a platform where nobody has signed up yet')
    .action(
      wrap(async (opts: { stackOnly?: boolean; demo: boolean }) => {
        if (stack('up') !== 0) throw new PaystreamError('INTERNAL', 'the stack did not start');
        await topicsCreate(undefined);
        await schemasRegister(undefined, undefined);
        console.log('');
        stack('status');
        if (opts.stackOnly) {
          console.log('\nservices (run each with `paystream run <service>`):');
          for (const s of SERVICES) console.log(`  ${s.name.padEnd(14)} ${s.description}`);
          return;
        }
        const { config, logger } = context();
        const report = await withDatabasePool(operatorPoolOptions(config.database, logger, 1), migrate);
        console.log(`migrations: ${report.applied.length} applied, ${report.skipped.length} already applied`);
        // Exits once every service has: a demo step still waiting (its organization's ledger command, up to 15 s)
        // has nobody left to answer it.
        process.exit(await runPlatform(config, logger, opts.demo));
      }),
    );

  program
    .command('demo')
    .description(
      "walk through seed 004's wallet flow and seed 003's bulk transfer on the running platform (ledger, sink and gateway), printing each answer",
    )
    .option('--gateway <url>', 'the gateway (default: PAYSTREAM_GATEWAY_HOST and PAYSTREAM_GATEWAY_PORT)')
    .action(
      wrap(async (opts: { gateway?: string }) => {
        const { config, logger } = context();
        await demo(config, logger, opts.gateway ?? `http://${config.gateway.host}:${config.gateway.port}`);
      }),
    );

  program
    .command('status')
    .description(
      'health of the stack, of the services running on this machine (found by their Prometheus target files), and the alerts firing',
    )
    .action(
      wrap(async () => {
        const { config } = context();
        const stackCode = stack('status');
        const targets = scrapeTargetsDir(config.stateDir);
        console.log(`\nrunning services (target files in ${path.relative(process.cwd(), targets) || '.'}):`);
        const { lines, code: servicesCode } = await runningServices(targets);
        for (const line of lines) console.log(line);
        console.log(`\nalerts firing (${config.prometheusUrl}/alerts; infra/prometheus/alerts.yml):`);
        for (const line of await firingAlerts(config.prometheusUrl)) console.log(line);
        console.log('\nservices this command can run (paystream run <service>):');
        for (const s of SERVICES) console.log(`  ${s.name.padEnd(14)} ${s.description}`);
        process.exitCode = stackCode !== 0 ? stackCode : servicesCode;
      }),
    );

  return program;
}

/**
 * Each service running with the local stack (`paystream run`, `paystream start`) as its target file in `dir` names
 * it, with its /readyz answer, one line each. `code` is 1 when one of them is not ready or does not answer; a file
 * whose process is gone (killed outright; its pid may be another process's by now) is shown as stale, and is not a
 * failure (the next service started removes it).
 */
export async function runningServices(dir: string): Promise<{ lines: string[]; code: number }> {
  const targets = listScrapeTargets(dir);
  if (targets.length === 0) return { lines: ['  none'], code: 0 };
  let code = 0;
  const lines: string[] = [];
  for (const t of targets) {
    let state: string;
    if (!targetProcessRuns(t)) state = 'stale       its process is gone (killed?); the next service started removes it';
    else {
      const why = await notReadyBecause(t.address);
      if (why !== undefined) code = 1;
      state = why === undefined ? 'ready' : `not ready   ${why}`;
    }
    lines.push(`  ${t.service.padEnd(14)} pid ${String(t.pid).padEnd(8)} ${t.address.padEnd(21)} ${state}`);
  }
  return { lines, code };
}

/**
 * The alerts Prometheus has firing, one line each (page before warning, then by name) with its summary, and how many
 * are pending (their condition holds, not yet for their `for`). What `status` shows of them does not change its exit
 * code: an alert is for a person to read (a service missing on purpose, in development, fires one too).
 */
async function firingAlerts(prometheusUrl: string): Promise<string[]> {
  type Alert = { state: string; labels: Record<string, string>; annotations: Record<string, string>; activeAt: string };
  let alerts: Alert[];
  try {
    const r = await fetch(`${prometheusUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(STATUS_REQUEST_TIMEOUT_MS) });
    if (!r.ok) return [`  Prometheus answered ${r.status}`];
    alerts = ((await r.json()) as { data: { alerts: Alert[] } }).data.alerts;
  } catch (err) {
    return [`  no answer from Prometheus (${noAnswerBecause(err)})`];
  }
  const rank = (a: Alert) => (a.labels.severity === 'page' ? 0 : 1);
  const firing = alerts
    .filter((a) => a.state === 'firing')
    .sort((a, b) => rank(a) - rank(b) || (a.labels.alertname ?? '').localeCompare(b.labels.alertname ?? ''));
  const pending = alerts.filter((a) => a.state === 'pending').length;
  const lines = firing.map(
    (a) =>
      `  ${(a.labels.severity ?? '').padEnd(8)} ${(a.labels.alertname ?? '').padEnd(30)} ${a.annotations.summary ?? ''}` +
      ` (since ${a.activeAt.replace(/\.\d+Z$/, 'Z')})`,
  );
  if (lines.length === 0) lines.push('  none');
  if (pending > 0) lines.push(`  (${pending} pending: their condition holds, not yet for long enough)`);
  return lines;
}

/** Undefined when the service answers /readyz 200; otherwise why it is not ready. */
async function notReadyBecause(address: string): Promise<string | undefined> {
  try {
    const r = await fetch(`http://${address}/readyz`, { signal: AbortSignal.timeout(STATUS_REQUEST_TIMEOUT_MS) });
    await r.body?.cancel();
    if (r.status === 200) return undefined;
    return r.status === 503 ? '/readyz answers 503 (starting or stopping)' : `/readyz answers ${r.status}`;
  } catch (err) {
    return `no answer from /readyz (${noAnswerBecause(err)})`;
  }
}

/** Why a `fetch` bounded by `AbortSignal.timeout` got no answer. */
const noAnswerBecause = (err: unknown) =>
  (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message;

/** How long `paystream start` waits for the gateway's /status, and for each of its answers. */
const START_TIMEOUT_MS = 120_000;
const STATUS_REQUEST_TIMEOUT_MS = 2_000;

/**
 * The platform in the foreground: one child process per service (`paystream run <service>`), each on its own
 * metrics port, logging to <state folder>/logs/<service>.log (`.paystream` unless PAYSTREAM_STATE_DIR names another).
 * Ctrl-C (or SIGTERM) stops them gracefully; a service that dies stops the rest, and the exit code says so.
 */
async function runPlatform(config: PlatformConfig, logger: Logger, withDemo: boolean): Promise<number> {
  const logsDir = path.join(localStateDir(config.stateDir), 'logs');
  const shown = path.relative(process.cwd(), logsDir) || '.';
  mkdirSync(logsDir, { recursive: true });
  const plan = [
    { name: 'ledger', metricsPort: config.metrics.port },
    { name: 'sink', metricsPort: config.metrics.port + 1 },
    { name: 'gateway', metricsPort: config.metrics.port + 2 },
  ];
  // Listening before the first child exists: a stop signal that comes as soon as a service is announced (or while the
  // others are being spawned) must find the handler, or it would end this process and leave the services orphaned.
  let reason: string | undefined;
  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    stop = (why: string) => {
      reason ??= why;
      resolve(reason);
    };
  });
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const children = plan.map(({ name, metricsPort }) => {
    const log = openSync(path.join(logsDir, `${name}.log`), 'a');
    const child = spawn(
      process.execPath,
      [...SERVICE_NODE_FLAGS, path.join(ROOT, 'bin', 'paystream.js'), 'run', name],
      {
        env: { ...process.env, PAYSTREAM_METRICS_PORT: String(metricsPort) },
        stdio: ['ignore', log, log],
      },
    );
    // A service's death during start-up stops the rest too.
    child.once('exit', (code, signal) => stop(`${name} exited with ${code ?? signal}`));
    console.log(
      `started ${name.padEnd(8)} pid ${child.pid}, metrics on :${metricsPort}, log ${path.join(shown, `${name}.log`)}`,
    );
    return { name, child };
  });
  const gateway = `http://${config.gateway.host}:${config.gateway.port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let up = false;
  while (reason === undefined && !up) {
    up = await fetch(`${gateway}/status`, { signal: AbortSignal.timeout(STATUS_REQUEST_TIMEOUT_MS) }).then(
      (r) => r.ok,
      () => false,
    );
    if (!up && Date.now() > deadline) reason = `the gateway did not come up within ${START_TIMEOUT_MS / 1000} s`;
    if (!up && reason === undefined) await Promise.race([stopped, new Promise((r) => setTimeout(r, 500))]);
  }
  if (reason === undefined) {
    console.log(`\npaystream is running: wallet API ${gateway} (OpenAPI at ${gateway}/openapi.json). Ctrl-C stops it.`);
    if (withDemo) {
      const ops = plan.map(({ metricsPort }) => `${config.metrics.host}:${metricsPort}`);
      await startDemo(config, logger, gateway, ops, stopped);
    }
  } else if (!reason.startsWith('SIG')) console.error(`${reason}; see ${path.join(shown, '*.log')}`);
  reason ??= await stopped;
  console.log(`stopping (${reason})`);
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  return reason.startsWith('SIG') ? 0 : 1;
}

/**
 * `paystream start`'s demo: run once on a platform where nobody has signed up yet (a fresh stack's database), skipped
 * otherwise. A failed demo is reported and the platform keeps running; a stop signal ends it at once.
 */
async function startDemo(
  config: PlatformConfig,
  logger: Logger,
  gateway: string,
  ops: string[],
  stopped: Promise<string>,
) {
  const abort = new AbortController();
  void stopped.then(() => abort.abort());
  const run = (async () => {
    if (!(await platformIsFresh(config, logger))) {
      console.log('demo: skipped, people have signed up on this platform already (`paystream demo` runs it)');
      return;
    }
    // The gateway answers before the ledger has its partitions: a deposit then would be answered 202, not 200.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const why = (await Promise.all(ops.map(notReadyBecause))).find((w) => w !== undefined);
      if (why === undefined) break;
      if (Date.now() > deadline || abort.signal.aborted)
        throw new PaystreamError('INTERNAL', `a service is not ready (${why})`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    console.log('\ndemo (once, on a platform where nobody has signed up yet; `--no-demo` skips it):\n');
    await demo(config, logger, gateway, abort.signal);
    console.log('\npaystream keeps running. Ctrl-C stops it.');
  })().catch((err: unknown) => {
    if (!abort.signal.aborted)
      console.error(`demo failed (the platform keeps running): ${toPaystreamError(err).message}`);
  });
  await Promise.race([run, stopped]);
}

/** Runs the command line `argv` (`node`, the script, then the arguments); bin/paystream.js calls it. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const e = toPaystreamError(err);
    console.error(`paystream: ${e.code}: ${e.message}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
