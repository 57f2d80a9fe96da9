/**
 * The slot machine as a pure function: `(snapshot, event) → [next snapshot, intents]`.
 *
 * This is xstate's own `transition()`, minus its cost: `transition()` builds a throwaway actor (and runs
 * the machine's initial transition) on every call, ~60 µs here; the machine's `transition` with one inert
 * scope made once is ~7 µs. The scope executes nothing: it only collects the custom actions — the
 * machine's named intents — in the order the machine took them.
 */
import { type AnyActorScope, createActor, type ExecutableActionObject, initialTransition, type SnapshotFrom } from "xstate"
import {
  type AnnounceCloseParams,
  type AnnounceOpenParams,
  type ArmExpiryParams,
  type RefuseParams,
  type SlotEvent,
  slotMachine
} from "../../../machines/slot.js"

export type SlotSnapshot = SnapshotFrom<typeof slotMachine>

/** The intents a transition returns, with the params the machine declares for each. */
export type SlotIntent =
  | { readonly type: "armExpiry"; readonly params: ArmExpiryParams }
  | { readonly type: "announceOpen"; readonly params: AnnounceOpenParams }
  | { readonly type: "announceClose"; readonly params: AnnounceCloseParams }
  | { readonly type: "refuse"; readonly params: RefuseParams }

const intentTypes: ReadonlySet<string> = new Set<SlotIntent["type"]>(["armExpiry", "announceOpen", "announceClose", "refuse"])

// The machine's `setup` types each intent's params; the scope sees them untyped, so the name is the proof.
const isIntent = (action: ExecutableActionObject): action is ExecutableActionObject & SlotIntent =>
  intentTypes.has(action.type)

/** A slot's first snapshot: idle. */
export const initialSlot = (slot: number): SlotSnapshot => initialTransition(slotMachine, { slot })[0]

/** A stepper for one host: stateless between calls (each call collects into its own array). */
export const makeSlotStepper = () => {
  let collected: Array<SlotIntent> = []
  const actor = createActor(slotMachine, { input: { slot: -1 } })
  const scope: AnyActorScope = {
    self: actor,
    id: "",
    sessionId: "",
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    system: actor.system,
    stopChild: () => undefined,
    actionExecutor: (action) => {
      if (isIntent(action)) collected.push(action)
    }
  }
  return (snapshot: SlotSnapshot, event: SlotEvent): readonly [SlotSnapshot, ReadonlyArray<SlotIntent>] => {
    const intents: Array<SlotIntent> = []
    collected = intents
    const next = slotMachine.transition(snapshot, event, scope)
    collected = []
    return [next, intents]
  }
}

export type SlotStepper = ReturnType<typeof makeSlotStepper>
