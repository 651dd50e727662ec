import { Button, Card, Group, JsonInput, Stack, Text, Title } from '@mantine/core';
import type { UseMutationResult } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { ErrorNotice, fieldError } from './components';

/**
 * Editing a `data` object (a person's or a tenant's) as JSON. The API takes an RFC 7396 merge patch, so what is sent is
 * the difference between what was saved and what the editor holds: a key deleted in the editor is sent as null and
 * removed, not silently kept.
 */

const NOT_JSON = 'Not valid JSON: check the quotes, commas and braces';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses the editor's text as the JSON object `data` must be, or says why it is not one. */
export function parseJsonObject(text: string): { value?: JsonObject; error?: string } {
  try {
    const value: unknown = JSON.parse(text);
    if (!isObject(value)) return { error: 'This must be a JSON object: { … }' };
    return { value };
  } catch (error) {
    return { error: `${NOT_JSON} (${(error as Error).message})` };
  }
}

/** The RFC 7396 merge patch that turns `from` into `to` (objects merge key by key; anything else is replaced). */
export function mergePatch(from: JsonObject, to: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (isObject(before) && isObject(value)) {
      const inner = mergePatch(before, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (!(key in from) || JSON.stringify(before) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

/** A card with the JSON editor; `save` is sent the merge patch. Read-only (no Save) when `readOnly`. */
export function DataEditor({
  title,
  intro,
  saved,
  save,
  readOnly = false,
  failed,
}: {
  title: string;
  intro: ReactNode;
  saved: JsonObject;
  save: UseMutationResult<unknown, Error, JsonObject>;
  readOnly?: boolean;
  failed: string;
}) {
  const [text, setText] = useState(() => JSON.stringify(saved, null, 2));
  const [invalid, setInvalid] = useState<string>();
  const titleId = useId();
  const current = parseJsonObject(text).value;
  const changed = current === undefined || Object.keys(mergePatch(saved, current)).length > 0;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseJsonObject(text);
    setInvalid(parsed.error);
    if (parsed.value !== undefined) save.mutate(mergePatch(saved, parsed.value));
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-labelledby={titleId}>
      <Title order={3} size="h5" id={titleId}>
        {title}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        {intro}
      </Text>
      <Stack gap="sm">
        <JsonInput
          label="data"
          value={text}
          readOnly={readOnly}
          onChange={(value) => {
            setText(value);
            setInvalid(undefined);
          }}
          error={invalid ?? fieldError(save.error, 'data')}
          autosize
          minRows={4}
          maxRows={16}
          formatOnBlur
          validationError={NOT_JSON}
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
        />
        {save.isError && fieldError(save.error, 'data') === undefined && <ErrorNotice error={save.error} title={failed} />}
        {!readOnly && (
          <Group>
            <Button type="submit" loading={save.isPending} disabled={!changed}>
              Save data
            </Button>
            {save.isSuccess && !changed && (
              <Text size="sm" role="status">
                Saved.
              </Text>
            )}
          </Group>
        )}
      </Stack>
    </Card>
  );
}
