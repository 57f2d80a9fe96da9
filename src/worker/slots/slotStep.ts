/**
 * The slot machine as a pure function: `(state, event) → [next state, intents]`.
 *
 * The machine (`machines/slot.ts`) decides everything; this only runs it. xstate's generic `transition`
 * works out exit and entry sets, document order and eventless transitions for any statechart, and on the
 * session path that was the largest single cost left: ~11 KB allocated and ~10–20 µs per event, two events
 * per session (docs/performance.md). The slot machine is flat (four states, no entry/exit actions, no
 * eventless, delayed or invoked transitions), and for such a machine one event means: the state's
 * candidate transitions for the event, in order; the first whose guard holds; its actions in order, each
 * `assign` updating the context that later actions' params see; its target.
 *
 * `compileStepper` reads that table once from the machine's own state nodes and implementations (its
 * guards, its `assign`s, its named intents), and refuses, at start, a machine that uses anything else.
 * `xstateStepper` is xstate's own `transition`, kept as the reference: a property test runs both over
 * random event sequences and requires the same states, contexts and intents (test/worker/slots/slotStep.test.ts).
 */
import { type AnyActorScope, createActor, type ExecutableActionObject, initialTransition } from "xstate"
import {
  type AnnounceCloseParams,
  type AnnounceOpenParams,
  type ArmExpiryParams,
  type RefuseParams,
  type SlotContext,
  type SlotEvent,
  slotMachine,
  type SlotStateValue
} from "../../../machines/slot.js"

/** A slot's state: the machine's state value and context (plain data). */
export interface SlotState {
  readonly value: SlotStateValue
  readonly context: SlotContext
}

/** The intents a transition returns, with the params the machine declares for each. */
export type SlotIntent =
  | { readonly type: "armExpiry"; readonly params: ArmExpiryParams }
  | { readonly type: "announceOpen"; readonly params: AnnounceOpenParams }
  | { readonly type: "announceClose"; readonly params: AnnounceCloseParams }
  | { readonly type: "refuse"; readonly params: RefuseParams }

export type SlotStepper = (state: SlotState, event: SlotEvent) => readonly [SlotState, ReadonlyArray<SlotIntent>]

const intentTypes: ReadonlySet<string> = new Set<SlotIntent["type"]>(["armExpiry", "announceOpen", "announceClose", "refuse"])

/** A machine that uses more of xstate than `compileStepper` runs. */
export class UnsupportedMachine extends Error {
  constructor(readonly detail: string) {
    super(`slot machine: cannot compile: ${detail}`)
  }
}

/** A slot's first state: idle. */
export const initialSlot = (slot: number): SlotState => {
  const [snapshot] = initialTransition(slotMachine, { slot })
  return { value: snapshot.value, context: snapshot.context }
}

type Args = { readonly context: SlotContext; readonly event: SlotEvent }
type ParamsOf = (args: Args) => unknown

interface ActionStep {
  readonly assign: ((args: Args, params: unknown) => Partial<SlotContext>) | null
  readonly type: string
  readonly params: ParamsOf
}

interface Candidate {
  readonly guard: ((args: Args) => boolean) | null
  readonly target: SlotStateValue | null
  readonly actions: ReadonlyArray<ActionStep>
}

// xstate's configs are loosely typed at run time; these read them without trusting their shape.
const field = (value: unknown, key: string): unknown => (typeof value === "object" || typeof value === "function") && value !== null ? Reflect.get(value, key) : undefined
const typeOf = (reference: unknown): string | undefined => {
  if (typeof reference === "string") return reference
  const type = field(reference, "type")
  return typeof type === "string" ? type : undefined
}
const paramsOf = (reference: unknown): ParamsOf => {
  const params = field(reference, "params")
  return typeof params === "function" ? (args) => params(args) : () => params
}
const nonEmpty = (value: unknown): boolean => (Array.isArray(value) ? value.length > 0 : value !== undefined && value !== null && Object.keys(value).length > 0)

type Machine = typeof slotMachine

const compileGuard = (machine: Machine, where: string, guard: unknown): Candidate["guard"] => {
  if (guard === undefined) return null
  const type = typeOf(guard)
  const implementation = type === undefined ? undefined : field(machine.implementations.guards, type)
  if (type === undefined || typeof implementation !== "function" || field(implementation, "check") !== undefined) {
    throw new UnsupportedMachine(`${where}: only named guards with params are supported`)
  }
  const params = paramsOf(guard)
  return (args) => Boolean(implementation(args, params(args)))
}

const compileAction = (machine: Machine, where: string, action: unknown): ActionStep => {
  const type = typeOf(action)
  const implementation = type === undefined ? undefined : field(machine.implementations.actions, type)
  if (type === undefined || implementation === undefined) throw new UnsupportedMachine(`${where}: only named actions are supported`)
  const params = paramsOf(action)
  if (field(implementation, "type") === "xstate.assign") {
    const assignment = field(implementation, "assignment")
    if (typeof assignment !== "function") throw new UnsupportedMachine(`${where}: ${type}: only function assignments are supported`)
    return { assign: (args, resolved) => assignment(args, resolved), type, params }
  }
  if (!intentTypes.has(type) || field(implementation, "resolve") !== undefined) {
    throw new UnsupportedMachine(`${where}: ${type}: only assign and the named intents are supported`)
  }
  return { assign: null, type, params }
}

/** The machine's transitions as a table: state → event type → candidates in order. */
export const compileStepper = (machine: Machine = slotMachine): SlotStepper => {
  const table = new Map<string, Map<string, ReadonlyArray<Candidate>>>()
  for (const [key, node] of Object.entries(machine.root.states)) {
    const where = `state ${key}`
    if (nonEmpty(node.states)) throw new UnsupportedMachine(`${where}: nested states`)
    if (nonEmpty(node.entry) || nonEmpty(node.exit)) throw new UnsupportedMachine(`${where}: entry or exit actions`)
    if (nonEmpty(node.always) || nonEmpty(node.after) || nonEmpty(node.invoke)) throw new UnsupportedMachine(`${where}: eventless, delayed or invoked transitions`)
    const byEvent = new Map<string, ReadonlyArray<Candidate>>()
    for (const [eventType, transitions] of node.transitions) {
      if (eventType.includes("*")) throw new UnsupportedMachine(`${where}: wildcard event ${eventType}`)
      byEvent.set(
        eventType,
        transitions.map((transition): Candidate => {
          const targets = transition.target ?? []
          const target = targets[0]
          if (targets.length > 1 || (target !== undefined && target.parent !== machine.root)) {
            throw new UnsupportedMachine(`${where} on ${eventType}: targets outside the top level`)
          }
          return {
            guard: compileGuard(machine, `${where} on ${eventType}`, transition.guard),
            target: target === undefined ? null : (target.key as SlotStateValue),
            actions: transition.actions.map((action) => compileAction(machine, `${where} on ${eventType}`, action))
          }
        })
      )
    }
    table.set(key, byEvent)
  }

  return (state, event) => {
    const candidates = table.get(state.value)?.get(event.type)
    if (candidates === undefined) return [state, []]
    for (const candidate of candidates) {
      if (candidate.guard !== null && !candidate.guard({ context: state.context, event })) continue
      let context = state.context
      const intents: Array<SlotIntent> = []
      for (const action of candidate.actions) {
        const args: Args = { context, event }
        const params = action.params(args)
        if (action.assign === null) intents.push({ type: action.type, params } as SlotIntent)
        else context = { ...context, ...action.assign(args, params) }
      }
      const value = candidate.target ?? state.value
      return [value === state.value && context === state.context ? state : { value, context }, intents]
    }
    return [state, []]
  }
}

/** xstate's own `transition`, with one inert scope that only collects the intents: the reference. */
export const xstateStepper = (machine: Machine = slotMachine): SlotStepper => {
  let collected: Array<SlotIntent> = []
  const actor = createActor(machine, { input: { slot: -1 } })
  const scope: AnyActorScope = {
    self: actor,
    id: "",
    sessionId: "",
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    system: actor.system,
    stopChild: () => undefined,
    actionExecutor: (action: ExecutableActionObject) => {
      if (intentTypes.has(action.type)) collected.push({ type: action.type, params: action.params } as SlotIntent)
    }
  }
  return (state, event) => {
    const intents: Array<SlotIntent> = []
    collected = intents
    const next = machine.transition(machine.resolveState({ value: state.value, context: state.context }), event, scope)
    collected = []
    if (next.status === "error") throw next.error
    return [{ value: next.value, context: next.context }, intents]
  }
}

/** The stepper the pool uses. */
export const makeSlotStepper = (): SlotStepper => compileStepper(slotMachine)
