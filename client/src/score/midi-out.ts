import {
  midiMessagesFor,
  midiReleaseFor,
  type NotesMessage,
  type ScoreClock,
  type ScoreNote,
} from './notes.ts';

/** The parts of Web MIDI used here (lib.dom's types vary between TypeScript versions). */
interface MidiPort {
  id: string;
  name: string | null;
  send(data: number[], timestamp?: number): void;
}
interface MidiAccess {
  outputs: Map<string, MidiPort>;
}

/**
 * "Play the score on my synthesizer": sends the live score's notes to a Web MIDI output chosen by
 * the listener, each timed to sound with its audio (`midiMessagesFor`). Off until the checkbox is
 * ticked; asks for MIDI access then (the browser may prompt). Texture bands are not sent.
 */
export class MidiOut {
  private access: MidiAccess | null = null;
  private output: MidiPort | null = null;

  constructor(
    private readonly toggle: HTMLInputElement,
    private readonly select: HTMLSelectElement,
    private readonly note: HTMLElement,
  ) {
    const supported = typeof (navigator as { requestMIDIAccess?: unknown }).requestMIDIAccess === 'function';
    toggle.disabled = !supported;
    if (!supported) note.textContent = 'This browser has no Web MIDI.';
    toggle.addEventListener('change', () => void this.enable(toggle.checked));
    select.addEventListener('change', () => {
      this.allOff();
      this.output = this.access?.outputs.get(select.value) ?? null;
    });
  }

  private async enable(on: boolean): Promise<void> {
    if (!on) {
      this.allOff();
      this.output = null;
      this.select.disabled = true;
      return;
    }
    try {
      const request = (navigator as unknown as { requestMIDIAccess(): Promise<MidiAccess> })
        .requestMIDIAccess;
      this.access = await request.call(navigator);
    } catch {
      this.toggle.checked = false;
      this.note.textContent = 'MIDI access was refused.';
      return;
    }
    const outputs = [...this.access.outputs.values()];
    this.select.replaceChildren(...outputs.map((o) => new Option(o.name ?? o.id, o.id)));
    this.select.disabled = outputs.length === 0;
    this.output = outputs[0] ?? null;
    this.note.textContent = outputs.length === 0 ? 'No MIDI output found.' : '';
  }

  /**
   * Sends a `notes` message's notes, and a note-off at the release for each note a release cut
   * short (`ended`), timed with the audio (nothing while off).
   */
  play(msg: NotesMessage, ended: readonly ScoreNote[], clock: ScoreClock | null): void {
    const out = this.output;
    if (!out || !clock) return;
    const now = Date.now();
    const perf = performance.now();
    for (const e of msg.events) {
      if (e.instrument === 'texture') continue;
      for (const m of midiMessagesFor({ ...e, end: e.start + e.frames }, clock, now, perf))
        out.send(m.data, m.at);
    }
    for (const n of ended) {
      if (n.instrument === 'texture') continue;
      const m = midiReleaseFor(n, clock, now, perf);
      out.send(m.data, m.at);
    }
  }

  /** All notes off on every channel used (switching output or turning off). */
  private allOff(): void {
    if (!this.output) return;
    for (let ch = 0; ch < 16; ch++) this.output.send([0xb0 | ch, 123, 0]);
  }
}
