/**
 * The synth's pending notes: a bounded queue kept sorted by start frame, stored as parallel typed
 * arrays so that scheduling copies numbers and never keeps (or allocates) an object.
 * Events with equal start frames keep their scheduling order.
 */
export class EventQueue {
  readonly capacity: number;
  private readonly instrument: Uint8Array;
  private readonly start: Float64Array;
  private readonly duration: Float64Array;
  private readonly midi: Float64Array;
  private readonly velocity: Float64Array;
  /** −1 for a note; for a release event, its keepPitchClasses mask (0…4095). */
  private readonly keep: Int16Array;
  private head = 0;
  private tail = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.instrument = new Uint8Array(capacity);
    this.start = new Float64Array(capacity);
    this.duration = new Float64Array(capacity);
    this.midi = new Float64Array(capacity);
    this.velocity = new Float64Array(capacity);
    this.keep = new Int16Array(capacity);
  }

  get size(): number {
    return this.tail - this.head;
  }

  /**
   * Inserts in start order; false (nothing stored) when the queue is full. `keep` is −1 for a
   * note, or a release event's keepPitchClasses mask (then duration, midi and velocity are 0).
   */
  push(
    instrument: number,
    startFrame: number,
    durationFrames: number,
    midi: number,
    velocity: number,
    keep = -1,
  ): boolean {
    if (this.tail === this.capacity) {
      if (this.head === 0) return false;
      this.compact();
    }
    // Walk back from the end: the composer schedules in order, so this loop rarely runs.
    let i = this.tail;
    while (i > this.head && this.start[i - 1]! > startFrame) {
      this.instrument[i] = this.instrument[i - 1]!;
      this.start[i] = this.start[i - 1]!;
      this.duration[i] = this.duration[i - 1]!;
      this.midi[i] = this.midi[i - 1]!;
      this.velocity[i] = this.velocity[i - 1]!;
      this.keep[i] = this.keep[i - 1]!;
      i--;
    }
    this.instrument[i] = instrument;
    this.start[i] = startFrame;
    this.duration[i] = durationFrames;
    this.midi[i] = midi;
    this.velocity[i] = velocity;
    this.keep[i] = keep;
    this.tail++;
    return true;
  }

  private compact(): void {
    const n = this.tail - this.head;
    this.instrument.copyWithin(0, this.head, this.tail);
    this.start.copyWithin(0, this.head, this.tail);
    this.duration.copyWithin(0, this.head, this.tail);
    this.midi.copyWithin(0, this.head, this.tail);
    this.velocity.copyWithin(0, this.head, this.tail);
    this.keep.copyWithin(0, this.head, this.tail);
    this.head = 0;
    this.tail = n;
  }

  /** Start frame of the earliest event, or +Infinity when empty. */
  nextStart(): number {
    return this.head < this.tail ? this.start[this.head]! : Infinity;
  }

  // Fields of the earliest event (valid while size > 0).
  headInstrument(): number {
    return this.instrument[this.head]!;
  }
  headStart(): number {
    return this.start[this.head]!;
  }
  headDuration(): number {
    return this.duration[this.head]!;
  }
  headMidi(): number {
    return this.midi[this.head]!;
  }
  headVelocity(): number {
    return this.velocity[this.head]!;
  }
  /** −1 for a note, else the release event's keepPitchClasses mask. */
  headKeep(): number {
    return this.keep[this.head]!;
  }

  /** Removes the earliest event. */
  pop(): void {
    if (this.head < this.tail) this.head++;
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  clear(): void {
    this.head = this.tail = 0;
  }
}
