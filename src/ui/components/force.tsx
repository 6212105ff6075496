// The checkbox that admits an install or an instance although the memory
// budget says it does not fit (the API's `force`; the answer then carries a warning).

export function ForceBox({ label, checked, onChange }: { label: string; checked?: boolean; onChange?: (value: boolean) => void }) {
  return (
    <label class="inline">
      <input type="checkbox" name="force" checked={checked} onChange={onChange && ((e) => onChange((e.target as HTMLInputElement).checked))} /> {label}
    </label>
  );
}
