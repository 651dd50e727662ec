import '@mantine/core/styles.css';
import { Alert, createTheme, type CSSVariablesResolver, Input, MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router/dom';
import { ProblemError } from './api/client';
import { router } from './routes';

// Every colour below is tuned for WCAG AA contrast (axe-core's color-contrast) on white and on a hovered table row.
const theme = createTheme({
  primaryColor: 'indigo',
  primaryShade: 8,
  autoContrast: true,
  defaultRadius: 'md',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  // Mantine's greens, one step darker, so that green text and outlines (status badges) read on light grey too.
  colors: { green: ['#ebfbee', '#d3f9d8', '#b2f2bb', '#8ce99a', '#69db7c', '#51cf66', '#40c057', '#2f9e44', '#2b8a3e', '#1e6b30'] },
  components: {
    // Alert titles in the light variant's tint are too faint on their background: use the text colour.
    Alert: Alert.extend({ styles: { title: { color: 'var(--mantine-color-text)' } } }),
    // A refused value stays readable in its field; the message under it says what is wrong.
    Input: Input.extend({ styles: { input: { color: 'var(--mantine-color-text)' } } }),
  },
});

// Mantine's default dimmed grey, error red and light-variant indigo are a touch too light for small text.
const contrast: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': 'var(--mantine-color-gray-7)',
    '--mantine-color-error': 'var(--mantine-color-red-9)',
    // The light variant (the active navigation link, light buttons) keeps its text readable while hovered.
    ...Object.fromEntries(
      ['--mantine-color-indigo', '--mantine-primary-color'].flatMap((c) => [
        [`${c}-light`, 'var(--mantine-color-indigo-0)'],
        [`${c}-light-hover`, 'var(--mantine-color-indigo-1)'],
        [`${c}-light-color`, 'var(--mantine-color-indigo-9)'],
      ]),
    ),
  },
  dark: {},
});

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      // A refusal is an answer, not a glitch: retry only what failed to arrive.
      retry: (count, error) => !(error instanceof ProblemError) && count < 2,
    },
  },
});

const root = document.getElementById('root');
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <MantineProvider theme={theme} cssVariablesResolver={contrast}>
        <QueryClientProvider client={queries}>
          <RouterProvider router={router} />
        </QueryClientProvider>
      </MantineProvider>
    </StrictMode>,
  );
}
