"""The input's sound carried into a rendered video, in step with the frames written so far.

Packets are copied as they are when the output container can hold the codec, else decoded and
re-encoded (AAC, Opus for WebM). Times are shifted so that the input time `origin` (the first
rendered frame) becomes 0, and sound is written only up to the end of the last written frame, so
an interrupted run still ends with picture and sound of the same length.
"""

from __future__ import annotations

from fractions import Fraction

from transpose_live.media.options import AudioTrack

_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


class AudioCarrier:
    """Muxes audio from `track` into the open PyAV `output` container."""

    def __init__(self, output, track: AudioTrack, copyable: frozenset, encoder: str) -> None:
        import av

        self._output = output
        self._input = av.open(track.path)
        self._in = self._input.streams[track.stream_index]
        self.copy = "*" in copyable or self._in.codec_context.name in copyable
        if self.copy:
            self.stream = output.add_stream_from_template(self._in)
        else:
            rate = self._in.codec_context.sample_rate or 48000
            if encoder == "libopus":
                rate = 48000
            self.stream = output.add_stream(encoder, rate=rate)
            channels = self._in.codec_context.channels or 2
            layout = _STANDARD_LAYOUTS.get(channels, "stereo")  # AAC wants a named layout
            self.stream.layout = layout
            self._resampler = av.AudioResampler(format=self.stream.format.name, layout=layout, rate=rate)
            self._next_sample: int | None = None
        self._packets = self._input.demux(self._in)
        self._held = None  # a packet read past the last requested time
        self._last = None  # the newest copied packet, muxed once the next one (or the end) is known
        self._shift = round(Fraction(track.origin).limit_denominator(10**9) / self._in.time_base)
        self._done = False

    def feed_until(self, seconds: float) -> None:
        """Writes the sound that starts before `seconds` (output clock)."""
        while not self._done:
            packet = self._held or self._next_packet()
            self._held = None
            if packet is None:
                self._done = True
                return
            start = float((packet.pts - self._shift) * self._in.time_base)
            if start >= seconds:
                self._held = packet
                return
            self._write(packet, start)

    def close(self, end_seconds: float) -> None:
        """Writes the sound up to `end_seconds`, flushes the encoder and closes the input."""
        try:
            self.feed_until(end_seconds)
            if self._last is not None:  # the final packet lasts only up to the end of the picture
                last, self._last = self._last, None
                end_ticks = round(end_seconds / float(last.time_base))
                if last.duration and last.pts + last.duration > end_ticks:
                    last.duration = max(1, end_ticks - last.pts)
                self._output.mux(last)
            if not self.copy:
                for frame in self._resampler.resample(None):
                    self._encode(frame)
                for packet in self.stream.encode(None):
                    self._output.mux(packet)
        finally:
            self._input.close()

    def _next_packet(self):
        for packet in self._packets:
            if packet.pts is not None and packet.size:
                return packet
        return None

    def _write(self, packet, start: float) -> None:
        duration = float((packet.duration or 0) * self._in.time_base)
        if start + duration <= 0:
            return  # wholly before the first rendered frame
        if self.copy:
            if start < 0:
                return  # a copied packet cannot be cut; the next one starts within its length
            packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self.stream
            if self._last is not None:
                self._output.mux(self._last)
            self._last = packet
        else:
            for frame in packet.decode():
                frame_start = float(frame.pts - self._shift) * float(frame.time_base) if frame.pts is not None else start
                if self._next_sample is None:
                    self._next_sample = max(0, round(frame_start * self.stream.rate))
                frame.pts = None
                for out in self._resampler.resample(frame):
                    self._encode(out)

    def _encode(self, frame) -> None:
        frame.pts = self._next_sample
        frame.time_base = Fraction(1, self.stream.rate)
        self._next_sample += frame.samples
        for packet in self.stream.encode(frame):
            self._output.mux(packet)
