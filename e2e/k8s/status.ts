// The pod status the runner reports, computed from what it knows of its containers (pure).
import type { KObject } from './kube.js';

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | { kind: 'terminated'; exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string };

export interface ContainerView {
  name: string;
  image: string;
  state: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  started: boolean;
  restartCount: number;
}

export interface PodView {
  pod: KObject;
  podIP?: string;
  hostIP: string;
  startTime: string;
  initialized: boolean;
  init: ContainerView[];
  containers: ContainerView[];
  /** Set when the runner cannot start the pod at all (unsupported volume...). */
  failure?: { reason: string; message: string };
}

function stateJson(s: ContainerState): Record<string, unknown> {
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case 'running':
      return { running: { startedAt: s.startedAt } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          ...(s.signal ? { signal: s.signal } : {}),
          reason: s.reason,
          ...(s.message ? { message: s.message } : {}),
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
        },
      };
  }
}

function containerStatus(c: ContainerView, podUid: string): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: `local://${c.image}`,
    containerID: `local://${podUid}/${c.name}/${c.restartCount}`,
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: stateJson(c.state),
    lastState: c.lastState ? stateJson(c.lastState) : {},
  };
}

/** The kubelet's phase rules, simplified to what local processes can do. */
export function podPhase(v: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (v.failure) return 'Failed';
  if (!v.initialized) {
    const failedInit = v.init.some((c) => c.state.kind === 'terminated' && c.state.exitCode !== 0);
    return failedInit && v.pod.spec?.restartPolicy === 'Never' ? 'Failed' : 'Pending';
  }
  const policy: string = v.pod.spec?.restartPolicy ?? 'Always';
  let running = 0;
  let waitingFresh = 0;
  let restarting = 0;
  let succeeded = 0;
  let failed = 0;
  for (const c of v.containers) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'waiting') {
      if (c.lastState) restarting++;
      else waitingFresh++;
    } else if (c.state.exitCode === 0) succeeded++;
    else failed++;
  }
  if (waitingFresh > 0 && running === 0 && restarting === 0) return 'Pending';
  if (running > 0 || restarting > 0 || waitingFresh > 0) return 'Running';
  if (policy === 'Always') return 'Running';
  if (failed > 0 && policy === 'Never') return 'Failed';
  if (failed > 0) return 'Running'; // OnFailure: about to restart
  return succeeded > 0 ? 'Succeeded' : 'Pending';
}

function condition(type: string, ok: boolean, now: string, old: KObject[] | undefined, reason?: string): Record<string, unknown> {
  const prev = old?.find((c) => c.type === type);
  const status = ok ? 'True' : 'False';
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
    ...(!ok && reason ? { reason } : {}),
  };
}

/** The full pod status object (written with a merge patch: lists are replaced whole). */
export function podStatus(v: PodView, now: string): Record<string, unknown> {
  const old = v.pod.status?.conditions as KObject[] | undefined;
  const containersReady = v.initialized && v.containers.every((c) => c.ready);
  const phase = podPhase(v);
  const conditions = [
    condition('PodReadyToStartContainers', !!v.podIP, now, old),
    condition('Initialized', v.initialized, now, old, 'ContainersNotInitialized'),
    condition('Ready', containersReady && phase === 'Running', now, old, 'ContainersNotReady'),
    condition('ContainersReady', containersReady, now, old, 'ContainersNotReady'),
  ];
  const scheduled = old?.find((c) => c.type === 'PodScheduled');
  conditions.push(scheduled ?? condition('PodScheduled', true, now, old));
  const uid = v.pod.metadata.uid ?? '';
  return {
    phase,
    conditions,
    hostIP: v.hostIP,
    hostIPs: [{ ip: v.hostIP }],
    ...(v.podIP ? { podIP: v.podIP, podIPs: [{ ip: v.podIP }] } : {}),
    startTime: v.startTime,
    ...(v.failure ? { reason: v.failure.reason, message: v.failure.message } : {}),
    ...(v.init.length ? { initContainerStatuses: v.init.map((c) => containerStatus(c, uid)) } : {}),
    containerStatuses: v.containers.map((c) => containerStatus(c, uid)),
  };
}

/** Restart back-off: initial * 2^n, capped (the kubelet uses 10 s and 300 s). */
export function backoffDelay(restarts: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, restarts));
}

/** Whether a container that exited with `exitCode` is restarted under the pod's restartPolicy. */
export function shouldRestart(policy: string | undefined, exitCode: number): boolean {
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return exitCode !== 0;
  return true;
}
