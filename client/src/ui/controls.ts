import { MODES, PITCH_CLASSES } from '../../../src/music/types.ts';
import type { ParamsPatch, StationParams } from '../protocol/messages.ts';
import { byId } from './dom.ts';
import { describePreset, type PresetInfo } from './preset-text.ts';

export type { PresetInfo } from './preset-text.ts';

export const ERROR_SHOW_MS = 8000;
const FIELDS = ['key', 'mode', 'bpm', 'intensity', 'preset'] as const;

const keyLabel = (pc: string) =>
  pc.length === 2
    ? `${pc[0]}♯ / ${String.fromCharCode(pc.charCodeAt(0) + 1 === 72 ? 65 : pc.charCodeAt(0) + 1)}♭`
    : pc;

/**
 * The musical controls: key, mode, tempo, intensity and preset chips. Reports the user's
 * changes; follows the server's parameters (welcome/params) without fighting a control the
 * user is holding.
 */
export class Controls {
  private readonly key = byId<HTMLSelectElement>('key');
  private readonly mode = byId<HTMLSelectElement>('mode');
  private readonly bpm = byId<HTMLInputElement>('bpm');
  private readonly intensity = byId<HTMLInputElement>('intensity');
  private readonly presets = byId<HTMLDivElement>('presets');
  private readonly bpmOut = byId<HTMLOutputElement>('bpm-out');
  private readonly intensityOut = byId<HTMLOutputElement>('intensity-out');
  private readonly held = new Set<HTMLElement>();
  private readonly errorTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private currentPreset: string | null = null;
  private readonly presetNote = byId<HTMLParagraphElement>('preset-note');
  private readonly presetOut = byId<HTMLOutputElement>('preset-out');
  private readonly presetInfo = new Map<string, PresetInfo>();
  private lastShown: Partial<StationParams> = {};

  constructor(
    private readonly onChange: (patch: ParamsPatch) => void,
    private readonly onPreset: (name: string) => void,
  ) {
    for (const pc of PITCH_CLASSES) this.key.add(new Option(keyLabel(pc), pc));
    for (const m of MODES) this.mode.add(new Option(m[0].toUpperCase() + m.slice(1), m));
    this.key.addEventListener('change', () => this.onChange({ key: this.key.value }));
    this.mode.addEventListener('change', () => this.onChange({ mode: this.mode.value }));
    this.bpm.addEventListener('input', () => this.showBpm());
    this.intensity.addEventListener('input', () => this.showIntensity());
    this.bpm.addEventListener('change', () => this.onChange({ bpm: Number(this.bpm.value) }));
    this.intensity.addEventListener('change', () =>
      this.onChange({ intensity: Number(this.intensity.value) }),
    );
    for (const el of [this.bpm, this.intensity]) {
      el.addEventListener('pointerdown', () => this.held.add(el));
      el.addEventListener('pointerup', () => this.held.delete(el));
      el.addEventListener('pointercancel', () => this.held.delete(el));
    }
  }

  setPresets(presets: PresetInfo[]): void {
    for (const p of presets) this.presetInfo.set(p.name, p);
    this.presets.replaceChildren(
      ...presets.map((p) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'chip';
        b.textContent = p.name;
        b.title = p.description;
        if (p.available === false) {
          // Offered by name, but this server lacks what it needs (a SoundFont): shown, not choosable.
          b.disabled = true;
          b.title = `${p.description} (not available on this server: it needs ${(p.requires ?? []).join(', ')})`;
        }
        b.dataset.preset = p.name;
        b.setAttribute('aria-pressed', String(p.name === this.currentPreset));
        b.addEventListener('click', () => this.onPreset(p.name));
        return b;
      }),
    );
    this.showPreset();
  }

  /** Shows parameters that the server reports (or that were restored). */
  show(params: Partial<StationParams>): void {
    if (params.key && !this.held.has(this.key)) this.key.value = params.key;
    if (params.mode && !this.held.has(this.mode)) this.mode.value = params.mode;
    if (typeof params.bpm === 'number' && !this.held.has(this.bpm)) {
      this.bpm.value = String(params.bpm);
      this.showBpm();
    }
    if (typeof params.intensity === 'number' && !this.held.has(this.intensity)) {
      this.intensity.value = String(params.intensity);
      this.showIntensity();
    }
    this.lastShown = { ...params };
    if (params.preset !== undefined) this.currentPreset = params.preset ?? null;
    this.showPreset();
  }

  /** The mood line, its note and the chips, from the parameters last shown. */
  private showPreset(): void {
    const shown = { ...this.lastShown, preset: this.currentPreset };
    const d = describePreset(shown, this.presetInfo.get(this.currentPreset ?? ''));
    this.presetOut.value = d.label;
    this.presetNote.textContent = d.note;
    for (const b of this.presets.querySelectorAll<HTMLButtonElement>('button[data-preset]')) {
      const on = b.dataset.preset === this.currentPreset;
      b.setAttribute('aria-pressed', String(on));
      if (on && d.modified) b.dataset.modified = 'true';
      else delete b.dataset.modified;
    }
  }

  values(): { key: string; mode: string; bpm: number; intensity: number } {
    return {
      key: this.key.value,
      mode: this.mode.value,
      bpm: Number(this.bpm.value),
      intensity: Number(this.intensity.value),
    };
  }

  private showBpm(): void {
    this.bpmOut.value = `${this.bpm.value} BPM`;
  }

  private showIntensity(): void {
    this.intensityOut.value = `${Math.round(Number(this.intensity.value) * 100)} %`;
  }

  /** Shows an error beside its field (or under the panel), for ERROR_SHOW_MS. */
  showError(message: string, field?: string): void {
    const id = field && (FIELDS as readonly string[]).includes(field) ? `err-${field}` : 'err-general';
    const el = byId<HTMLParagraphElement>(id);
    el.textContent = message;
    el.hidden = false;
    clearTimeout(this.errorTimers.get(id));
    this.errorTimers.set(
      id,
      setTimeout(() => {
        el.hidden = true;
      }, ERROR_SHOW_MS),
    );
  }
}
