/**
 * The mail Tenantry sends, as pure functions: data in, subject and both bodies out. Every interpolated
 * value in the HTML is escaped — names and tenant names are chosen by users and must never become markup.
 */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const PRODUCT = 'Tenantry';

export function escapeHtml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

export function verificationEmail(input: { name?: string; link: string }): RenderedMail {
  return render({
    subject: `Confirm your email address for ${PRODUCT}`,
    name: input.name,
    paragraphs: [`Please confirm that this is your email address by opening the link below.`],
    action: { label: 'Confirm email address', link: input.link },
    footer: `If you did not create a ${PRODUCT} account, you can ignore this message.`,
  });
}

export function passwordResetEmail(input: { name?: string; link: string }): RenderedMail {
  return render({
    subject: `Reset your ${PRODUCT} password`,
    name: input.name,
    paragraphs: ['Someone asked to reset the password of your account. To choose a new password, open the link below.'],
    action: { label: 'Choose a new password', link: input.link },
    footer: 'If you did not ask for this, you can ignore this message: your password stays as it is.',
  });
}

export function invitationEmail(input: { tenantName: string; inviterName: string; roles: string[]; link: string; expiresAt: Date }): RenderedMail {
  const roles = input.roles.length === 0 ? 'no role yet' : input.roles.length === 1 ? 'the role' : 'the roles';
  const roleList = input.roles.join(', ');
  return render({
    subject: `${input.inviterName} invited you to join ${input.tenantName} on ${PRODUCT}`,
    name: undefined,
    paragraphs: [
      `${input.inviterName} invited you to join ${input.tenantName} on ${PRODUCT}, with ${roles}${roleList === '' ? '' : ` ${roleList}`}.`,
      `This invitation expires on ${formatUtc(input.expiresAt)}.`,
    ],
    action: { label: 'Accept the invitation', link: input.link },
    footer: 'If you did not expect this invitation, you can ignore this message.',
  });
}

/**
 * To a decider: a request waits for them (seed 004). `what` completes "asks to …" ("remove Ann, an
 * administrator, from Acme").
 */
export function approvalRequestedEmail(input: { name?: string; initiatorName: string; tenantName: string; what: string; expiresAt: Date; link: string }): RenderedMail {
  return render({
    subject: `Approval needed: ${input.initiatorName} asks to ${input.what}`,
    name: input.name,
    paragraphs: [
      `${input.initiatorName} asks to ${input.what}. Nothing happens until someone allowed to decide approves it; if it is approved, it is carried out as ${input.initiatorName}.`,
      `You can approve or decline it in ${input.tenantName}'s approval requests until ${formatUtc(input.expiresAt)}, when it expires.`,
    ],
    action: { label: 'Review the request', link: input.link },
    footer: `You receive this because you may decide approval requests for ${input.tenantName}.`,
  });
}

/** To the initiator: their request was decided. `failure` is why an approved action could not be carried out. */
export function approvalDecidedEmail(input: {
  name?: string;
  what: string;
  tenantName: string;
  outcome: 'executed' | 'failed' | 'declined';
  deciderName: string;
  note: string | null;
  failure?: string;
  link: string;
}): RenderedMail {
  const subjects = { executed: 'approved and carried out', failed: 'approved, but it could not be carried out', declined: 'declined' } as const;
  const results = {
    executed: `${input.deciderName} approved your request to ${input.what}, and it has been carried out.`,
    failed: `${input.deciderName} approved your request to ${input.what}, but it could not be carried out: ${input.failure ?? 'it was refused'}.`,
    declined: `${input.deciderName} declined your request to ${input.what}. Nothing was changed.`,
  } as const;
  return render({
    subject: `Your request was ${subjects[input.outcome]}: ${input.what}`,
    name: input.name,
    paragraphs: [results[input.outcome], ...(input.note === null || input.note.trim() === '' ? [] : [`Their note: "${input.note.trim()}"`])],
    action: { label: 'See the request', link: input.link },
    footer: `You receive this because you asked for this action in ${input.tenantName}.`,
  });
}

interface Layout {
  subject: string;
  name: string | undefined;
  paragraphs: string[];
  action: { label: string; link: string };
  footer: string;
}

function render(layout: Layout): RenderedMail {
  const greeting = layout.name === undefined || layout.name.trim() === '' ? 'Hello,' : `Hello ${layout.name.trim()},`;
  const text = [greeting, ...layout.paragraphs, layout.action.link, layout.footer, `— ${PRODUCT}`].join('\n\n');
  const link = escapeHtml(layout.action.link);
  const html = [
    '<!doctype html>',
    '<html><body style="font-family: sans-serif; line-height: 1.5; color: #222;">',
    `<p>${escapeHtml(greeting)}</p>`,
    ...layout.paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`),
    `<p><a href="${link}">${escapeHtml(layout.action.label)}</a></p>`,
    `<p style="font-size: 0.9em; color: #555;">If the button does not work, copy this address into your browser:<br>${link}</p>`,
    `<p style="font-size: 0.9em; color: #555;">${escapeHtml(layout.footer)}</p>`,
    `<p>— ${PRODUCT}</p>`,
    '</body></html>',
  ].join('\n');
  // A subject is one header line: user-chosen names must not break it (nodemailer would fold it anyway).
  return { subject: layout.subject.replace(/\s+/g, ' ').trim(), text: `${text}\n`, html: `${html}\n` };
}

/** "2026-01-08 12:00 UTC": unambiguous for a reader in any time zone, and stable in tests. */
function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
