/**
 * How wide the live views may draw: the terminal's columns, or no limit when the terminal reports no size.
 * A pseudo-terminal made without one (`script`, `docker exec -t`, some CI runners) says 0 columns, and cutting
 * every line to that drew empty frames.
 */
export const terminalWidth = (stream: { readonly columns?: number | undefined }) => (): number => {
  const columns = stream.columns
  return typeof columns === "number" && Number.isInteger(columns) && columns > 0 ? columns : Number.POSITIVE_INFINITY
}
