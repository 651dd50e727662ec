import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../platform/http/errors.ts';
import { Problems } from '../platform/http/schemas.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { safeEqual } from '../platform/secrets.ts';
import { MqttErrors } from './mqtt.errors.ts';
import { authenticateBrokerClient, authorizeBrokerAction, type BrokerDecision, type MqttDeps } from './mqtt.service.ts';
import type { MqttAction } from './topics.ts';

/** Brokers send more than we read (peer address, protocol, mountpoint…); every member is a string unless noted. */
const loose = { additionalProperties: true } as const;
const Text = Type.String({ maxLength: 8192 });
const EmqxResult = Type.Object({ result: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), is_superuser: Type.Optional(Type.Boolean()) });
const GoAuthResult = Type.Object({ ok: Type.Boolean(), error: Type.String() });
const VerneResult = Type.Object({
  result: Type.Union([Type.Literal('ok'), Type.Object({ error: Type.String() })]),
  topics: Type.Optional(Type.Array(Type.Object({ topic: Type.String(), qos: Type.Integer() }))),
});

/** mosquitto-go-auth's `acc`: 1 read (a message delivered), 2 write (publish), 3 both, 4 subscribe. */
const GO_AUTH_ACCESS: Record<number, MqttAction[]> = { 1: ['receive'], 2: ['publish'], 3: ['receive', 'publish'], 4: ['subscribe'] };

/**
 * The decisions MQTT brokers ask for (issue 16), one core (`mqtt.service.ts`) behind three brokers' HTTP contracts:
 * EMQX 5's HTTP authentication and authorization, mosquitto-go-auth's HTTP backend (JSON params, status or JSON
 * responses), and VerneMQ's webhooks. Brokers present `TENANTRY_MQTT_BROKER_SECRET` as a bearer token or as the Basic
 * password (for brokers that take credentials only in the URL); a refusal is a 200 answer saying deny, as each
 * contract expects, never an error, so the broker does not fall through to another authenticator.
 */
export async function mqttRoutes(app: FastifyTypebox): Promise<void> {
  const deps: MqttDeps = app.services;
  const config = { brokerEndpoint: true };
  const tags = ['mqtt'];

  // Every broker route checks the broker's secret first, before its body is even read.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.brokerEndpoint === true) requireBroker(request);
  });

  function requireBroker(request: FastifyRequest): void {
    const secret = app.services.config.mqttBrokerSecret;
    const presented = brokerSecretOf(request.headers.authorization);
    // Anonymous callers learn nothing, not even whether the endpoints are on.
    if (presented === undefined) throw new AppError(MqttErrors.BROKER_UNAUTHENTICATED);
    if (secret === undefined) throw new AppError(MqttErrors.BROKER_ENDPOINTS_OFF);
    if (presented === undefined || !safeEqual(presented, secret)) throw new AppError(MqttErrors.BROKER_UNAUTHENTICATED);
  }

  function logDenial(request: FastifyRequest, decision: BrokerDecision, what: string): void {
    if (!decision.allow) request.log.info({ mqtt: what, reason: decision.reason }, 'mqtt broker request denied');
  }

  app.post(
    '/mqtt/emqx/authn',
    {
      config,
      schema: {
        tags,
        summary: 'EMQX 5 HTTP authentication: body {username, password, clientid}, filled in by EMQX placeholders',
        body: Type.Object({ username: Text, password: Text, clientid: Text }, loose),
        response: { 200: EmqxResult, ...Problems },
      },
    },
    async (request) => {
      const { username, password, clientid } = request.body;
      const decision = await authenticateBrokerClient(deps, { username, password, clientId: clientid });
      logDenial(request, decision, 'connect');
      return { result: decision.allow ? ('allow' as const) : ('deny' as const), is_superuser: false };
    },
  );

  app.post(
    '/mqtt/emqx/authz',
    {
      config,
      schema: {
        tags,
        summary: 'EMQX 5 HTTP authorization: body {username, clientid, topic, action} with action publish or subscribe',
        body: Type.Object({ username: Text, clientid: Text, topic: Text, action: Type.Union([Type.Literal('publish'), Type.Literal('subscribe'), Type.Literal('all')]) }, loose),
        response: { 200: Type.Object({ result: Type.Union([Type.Literal('allow'), Type.Literal('deny')]) }), ...Problems },
      },
    },
    async (request) => {
      const { username, clientid, topic, action } = request.body;
      const actions: MqttAction[] = action === 'all' ? ['publish', 'subscribe'] : [action];
      const allowed = await allowsAll(deps, { username, clientId: clientid, topic }, actions, (d) => logDenial(request, d, action));
      return { result: allowed ? ('allow' as const) : ('deny' as const) };
    },
  );

  const goAuth = (allow: boolean, error: string, reply: { code: (status: number) => unknown }) => {
    // response_mode "status" reads the status, "json" the body; both say the same.
    reply.code(allow ? 200 : 403);
    return { ok: allow, error };
  };

  app.post(
    '/mqtt/go-auth/user',
    {
      config,
      schema: {
        tags,
        summary: 'mosquitto-go-auth HTTP backend, user check: {username, password, clientid}; 200 allows, 403 denies',
        body: Type.Object({ username: Text, password: Text, clientid: Text }, loose),
        response: { 200: GoAuthResult, 403: GoAuthResult, ...Problems },
      },
    },
    async (request, reply) => {
      const { username, password, clientid } = request.body;
      const decision = await authenticateBrokerClient(deps, { username, password, clientId: clientid });
      logDenial(request, decision, 'connect');
      return goAuth(decision.allow, decision.allow ? '' : decision.reason, reply);
    },
  );

  app.post(
    '/mqtt/go-auth/superuser',
    {
      config,
      schema: {
        tags,
        summary: 'mosquitto-go-auth HTTP backend, superuser check: always 403 (no Tenantry credential bypasses topic checks)',
        body: Type.Object({ username: Text }, loose),
        response: { 403: GoAuthResult, ...Problems },
      },
    },
    async (_request, reply) => {
      return goAuth(false, 'no credential is a superuser', reply);
    },
  );

  app.post(
    '/mqtt/go-auth/acl',
    {
      config,
      schema: {
        tags,
        summary: 'mosquitto-go-auth HTTP backend, ACL check: {username, clientid, topic, acc} with acc 1 read, 2 write, 3 both, 4 subscribe',
        body: Type.Object({ username: Text, clientid: Text, topic: Text, acc: Type.Integer({ minimum: 1, maximum: 4 }) }, loose),
        response: { 200: GoAuthResult, 403: GoAuthResult, ...Problems },
      },
    },
    async (request, reply) => {
      const { username, clientid, topic, acc } = request.body;
      const allowed = await allowsAll(deps, { username, clientId: clientid, topic }, GO_AUTH_ACCESS[acc] ?? [], (d) => logDenial(request, d, `acc ${acc}`));
      return goAuth(allowed, allowed ? '' : `access ${acc} on ${topic} is not allowed`, reply);
    },
  );

  app.post(
    '/mqtt/vernemq/auth_on_register',
    {
      config,
      schema: {
        tags,
        summary: 'VerneMQ webhook auth_on_register (and auth_on_register_m5): {username, password, client_id}',
        body: Type.Object({ username: Type.Union([Text, Type.Null()]), password: Type.Union([Text, Type.Null()]), client_id: Text }, loose),
        response: { 200: VerneResult, ...Problems },
      },
    },
    async (request) => {
      const { username, password, client_id } = request.body;
      if (username === null || password === null) return { result: { error: 'not_allowed' } };
      const decision = await authenticateBrokerClient(deps, { username, password, clientId: client_id });
      logDenial(request, decision, 'connect');
      return decision.allow ? { result: 'ok' as const } : { result: { error: 'not_allowed' } };
    },
  );

  app.post(
    '/mqtt/vernemq/auth_on_publish',
    {
      config,
      schema: {
        tags,
        summary: 'VerneMQ webhook auth_on_publish (and auth_on_publish_m5): {username, client_id, topic}',
        body: Type.Object({ username: Type.Union([Text, Type.Null()]), client_id: Text, topic: Text }, loose),
        response: { 200: VerneResult, ...Problems },
      },
    },
    async (request) => {
      const { username, client_id, topic } = request.body;
      const allowed = username !== null && (await allowsAll(deps, { username, clientId: client_id, topic }, ['publish'], (d) => logDenial(request, d, 'publish')));
      return allowed ? { result: 'ok' as const } : { result: { error: 'not_allowed' } };
    },
  );

  app.post(
    '/mqtt/vernemq/auth_on_subscribe',
    {
      config,
      schema: {
        tags,
        summary: 'VerneMQ webhook auth_on_subscribe (and auth_on_subscribe_m5): {username, client_id, topics: [{topic, qos}]}; one refused filter refuses the SUBSCRIBE',
        body: Type.Object(
          { username: Type.Union([Text, Type.Null()]), client_id: Text, topics: Type.Array(Type.Object({ topic: Text, qos: Type.Integer() }, loose), { maxItems: 1000 }) },
          loose,
        ),
        response: { 200: VerneResult, ...Problems },
      },
    },
    async (request) => {
      const { username, client_id, topics } = request.body;
      if (username === null) return { result: { error: 'not_allowed' } };
      const answers = [];
      for (const { topic, qos } of topics) {
        const allowed = await allowsAll(deps, { username, clientId: client_id, topic }, ['subscribe'], (d) => logDenial(request, d, 'subscribe'));
        answers.push({ topic, qos: allowed ? qos : 128 });
      }
      // Any refused filter refuses the whole SUBSCRIBE: VerneMQ's MQTT 5 hook reads per-filter answers from
      // `modifiers.topics`, its 3.1.1 hook from `topics`, and one endpoint serves both; a refusal is the same in each.
      return answers.some((a) => a.qos === 128) ? { result: { error: 'not_allowed' } } : { result: 'ok' as const };
    },
  );
}

/** Whether every one of `actions` on the topic is allowed (asked one by one; a refusal is logged by `onDenied`). */
async function allowsAll(
  deps: MqttDeps,
  act: { username: string; clientId: string; topic: string },
  actions: readonly MqttAction[],
  onDenied: (d: BrokerDecision) => void,
): Promise<boolean> {
  if (actions.length === 0) return false;
  for (const action of actions) {
    const decision = await authorizeBrokerAction(deps, { ...act, action });
    if (!decision.allow) {
      onDenied(decision);
      return false;
    }
  }
  return true;
}

/** The broker's secret from `Bearer <secret>` or from Basic credentials' password (any user name). */
function brokerSecretOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer?.[1] !== undefined) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic?.[1] === undefined) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}
